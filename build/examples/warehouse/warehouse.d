build/examples/warehouse/warehouse.o: examples/warehouse/warehouse.c \
 common/cfg.h common/err.h common/err.h common/log.h common/xalloc.h
common/cfg.h:
common/err.h:
common/err.h:
common/log.h:
common/xalloc.h:
