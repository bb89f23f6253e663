build/common/http.o: common/http.c common/http.h common/log.h \
 common/xalloc.h
common/http.h:
common/log.h:
common/xalloc.h:
