build/worker/chat.o: worker/chat.c worker/chat.h common/err.h \
 common/ndjson.h common/xalloc.h
worker/chat.h:
common/err.h:
common/ndjson.h:
common/xalloc.h:
