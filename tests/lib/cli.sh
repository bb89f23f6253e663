# cli.sh: helpers of the scripts that drive `dispatcher` commands against one throwaway Redis.
# Source it after harness.sh and h_redis_start. D is the dispatcher, T the scratch directory.
NS0=$TURNQ_NAMESPACE
D=$H_BIN/dispatcher
T=$H_DIR
# fresh NAME: a new, empty namespace for one scenario (NS is set to it).
fresh() { export TURNQ_NAMESPACE="${NS0}_$1"; NS=$TURNQ_NAMESPACE; }
# run ARGS...: runs the dispatcher; stdout in $T/out, stderr in $T/err, exit code in $RC.
run() { RC=0; "$D" "$@" >"$T/out" 2>"$T/err" || RC=$?; }
# nkeys: how many keys the current namespace holds.
nkeys() { h_cli --scan --pattern "$NS:*" | wc -l | tr -d ' '; }
