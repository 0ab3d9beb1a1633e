# data.sh - sourced by the multi-process tests: use_data SET DATA_DIR TMP
# sets data_args to the real set when tools/fetch-data has put it in
# DATA_DIR, else to a generated IDX folder (gen_data.py), so these tests
# run, and say so, on a machine without the downloads.
use_data() {
  local set=$1 dir=$2 tmp=$3 have=0
  case $set in
    digits) [ -f "$dir/digits/digits.csv.gz" ] && have=1 ;;
    mnist) { [ -f "$dir/mnist/train-images-idx3-ubyte" ] ||
             [ -f "$dir/mnist/train-images-idx3-ubyte.gz" ]; } && have=1 ;;
  esac
  if [ "$have" = 1 ]; then
    data_args=(--data "$set" --data-dir "$dir")
  else
    python3 "$(dirname "${BASH_SOURCE[0]}")/gen_data.py" "$tmp/generated"
    data_args=(--data "$tmp/generated")
    echo "note: no $set in $dir: using generated data" >&2
  fi
}
