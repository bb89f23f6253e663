build/tests/lib/unit.o: tests/lib/unit.c tests/lib/unit.h
tests/lib/unit.h:
