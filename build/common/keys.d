build/common/keys.o: common/keys.c common/keys.h
common/keys.h:
