build/common/timefmt.o: common/timefmt.c common/timefmt.h
common/timefmt.h:
