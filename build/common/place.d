build/common/place.o: common/place.c common/place.h
common/place.h:
