build/common/redisurl.o: common/redisurl.c common/redisurl.h common/err.h
common/redisurl.h:
common/err.h:
