build/common/cfg.o: common/cfg.c common/cfg.h common/err.h
common/cfg.h:
common/err.h:
