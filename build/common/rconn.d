build/common/rconn.o: common/rconn.c common/rconn.h common/redisurl.h \
 common/err.h common/log.h common/xalloc.h
common/rconn.h:
common/redisurl.h:
common/err.h:
common/log.h:
common/xalloc.h:
