#define TURNQ_VERSION "dc18866-dirty"
