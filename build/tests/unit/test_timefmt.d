build/tests/unit/test_timefmt.o: tests/unit/test_timefmt.c \
 tests/unit/../lib/unit.h common/timefmt.h
tests/unit/../lib/unit.h:
common/timefmt.h:
