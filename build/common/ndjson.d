build/common/ndjson.o: common/ndjson.c common/ndjson.h common/xalloc.h
common/ndjson.h:
common/xalloc.h:
