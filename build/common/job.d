build/common/job.o: common/job.c common/job.h common/err.h common/place.h \
 common/xalloc.h
common/job.h:
common/err.h:
common/place.h:
common/xalloc.h:
