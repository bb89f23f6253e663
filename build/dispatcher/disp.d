build/dispatcher/disp.o: dispatcher/disp.c dispatcher/disp.h common/cfg.h \
 common/err.h common/err.h common/redisurl.h common/job.h common/keys.h \
 common/log.h common/rcmd.h common/redisurl.h common/xalloc.h
dispatcher/disp.h:
common/cfg.h:
common/err.h:
common/err.h:
common/redisurl.h:
common/job.h:
common/keys.h:
common/log.h:
common/rcmd.h:
common/redisurl.h:
common/xalloc.h:
