#define TURNQ_VERSION "fff4ae0-dirty"
