#define TURNQ_VERSION "4019dee-dirty"
