#!/usr/bin/env bash
# Run a SignalProp campaign under PBS Pro / OpenPBS (or Torque): one MPI rank per
# core, rank 0 coordinates.
#
#   qsub cluster/pbs.sh                                            # examples/quickstart.toml
#   qsub -v CAMPAIGN=campaigns/big.toml,OUT=out/big cluster/pbs.sh
#   qsub -l select=4:ncpus=32:mpiprocs=32 -l walltime=12:00:00 cluster/pbs.sh
#   NTASKS=2 bash cluster/pbs.sh [--quiet]                          # no PBS: plain mpirun here
#
# Environment (defaults in brackets; under qsub pass them with -v):
#   SIGNALPROP  the binary      [`signalprop` on PATH, else ./.build/release/signalprop]
#   CAMPAIGN    the TOML file   [examples/quickstart.toml]
#   OUT         output folder   [out/<campaign name without .toml>]
#   NTASKS      ranks           [lines of $PBS_NODEFILE (one per mpiprocs slot), else 2]
#   SWEEP_ARGS  extra `signalprop sweep` options, e.g. --quiet (qsub passes no arguments
#               to the script; by hand, arguments after the script name work too)
# Exit status is signalprop's: 0 ok, 1 a run failed, 2 bad config/arguments.
#
#PBS -N signalprop
#   PBS Pro / OpenPBS: 1 chunk of 32 cores, one MPI rank on each (mpiprocs = ncpus),
#   because parallelism comes from samples and grid points, not from threaded BLAS.
#   Torque spells it: #PBS -l nodes=1:ppn=32
#PBS -l select=1:ncpus=32:mpiprocs=32
#PBS -l walltime=04:00:00
#   stdout and stderr in one file, <name>.o<jobid>.
#PBS -j oe
#   Rerunnable: after a node failure or preemption the server may restart the job;
#   the journal makes the rerun a --resume.
#PBS -r y

set -euo pipefail

# qsub starts the script in $HOME; relative paths are meant from the submit folder.
cd "${PBS_O_WORKDIR:-.}"

# module load openmpi openblas     # site-specific: the MPI the binary was built against

# Inputs, overridable from the environment.
if [[ -z "${SIGNALPROP:-}" ]]; then
    SIGNALPROP=$(command -v signalprop || echo ./.build/release/signalprop)
fi
CAMPAIGN=${CAMPAIGN:-examples/quickstart.toml}
OUT=${OUT:-out/$(basename "$CAMPAIGN" .toml)}

# Fail early with the engine's "bad arguments" status rather than inside every rank.
if [[ ! -x "$SIGNALPROP" ]]; then
    echo "pbs.sh: no signalprop binary at '$SIGNALPROP' (set SIGNALPROP, or swift build -c release)" >&2
    exit 2
fi
if [[ ! -f "$CAMPAIGN" ]]; then
    echo "pbs.sh: campaign file '$CAMPAIGN' not found (set CAMPAIGN)" >&2
    exit 2
fi

# Cores usable here (affinity/cgroup aware), counted before the export below:
# GNU nproc reports OMP_NUM_THREADS instead when it is set.
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)

# One BLAS/OpenMP thread per rank: ranks already fill the cores; more threads would
# oversubscribe them (OpenBLAS otherwise sizes its pool from the affinity mask).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# A rerun job continues the killed run: from its journal, or from the start when the
# kill came before the journal existed (--resume recognises that folder).
args=(sweep "$CAMPAIGN" --out "$OUT")
if [[ -d "$OUT" ]]; then
    args+=(--resume)
fi
read -r -a extra <<< "${SWEEP_ARGS:-}"
args+=("${extra[@]}" "$@")

# $PBS_NODEFILE lists each host once per MPI slot (mpiprocs, or ppn under Torque).
if [[ -n "${PBS_NODEFILE:-}" && -r "${PBS_NODEFILE}" ]]; then
    ranks=${NTASKS:-$(wc -l < "$PBS_NODEFILE")}
else
    ranks=${NTASKS:-2}
fi

# -x: mpirun forwards only OMPI_* variables to ranks on other nodes by default.
cmd=(mpirun -n "$ranks" -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
# OpenMPI refuses to start as root (containers, CI) without this.
if [[ "$(id -u)" == 0 ]]; then
    cmd+=(--allow-run-as-root)
fi
if [[ -n "${PBS_NODEFILE:-}" ]]; then
    # The hosts PBS gave us (an OpenMPI built with tm support finds them anyway).
    cmd+=(-hostfile "$PBS_NODEFILE" --bind-to core)
elif (( ranks > cores )); then
    # Outside PBS the slots are this machine's cores: more ranks than cores need
    # --oversubscribe and cannot be bound one per core.
    cmd+=(--oversubscribe --bind-to none)
else
    cmd+=(--bind-to core)
fi
cmd+=("$SIGNALPROP" "${args[@]}")

printf -v line '%q ' "${cmd[@]}"
echo "pbs.sh: job ${PBS_JOBID:-local}: ${line% }"

# In the background and waited for, so that a TERM from qdel or preemption runs the
# trap while the job is busy (bash runs traps only between commands) and is passed on
# to mpirun, which stops the ranks; a background job would otherwise ignore INT. A
# wait cut short by a trapped signal returns > 128 while mpirun still runs: wait
# again for its real exit status.
"${cmd[@]}" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
status=0
wait "$child" || status=$?
while (( status > 128 )) && kill -0 "$child" 2>/dev/null; do
    status=0
    wait "$child" || status=$?
done
exit "$status"
