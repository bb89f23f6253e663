build/common/rcmd.o: common/rcmd.c common/rcmd.h common/err.h \
 common/redisurl.h
common/rcmd.h:
common/err.h:
common/redisurl.h:
