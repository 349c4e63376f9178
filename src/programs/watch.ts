import {
  breachAt,
  describeGuard,
  formatDuration,
  worstOf,
  type Guard,
  type Sample,
  type WatchPlan,
} from '../rules/guards.js';
import { lines, sh, Shell } from '../remote/shell.js';
import { RECORD_MORE } from '../remote/history.js';

/** Seconds one query may take before it counts as failed. */
export const QUERY_TIMEOUT = 10;
/** The largest answer the watch reads (bytes); a larger one is a failed query, said as such, never cut. */
export const ANSWER_CAP = 1_000_000;

/**
 * The NAS side of the watch: constant shell, values only as arguments.
 *
 * nr_prom_get URL FILE      GETs URL into FILE (curl, else wget), prints the HTTP status (0: no answer)
 * nr_prom_parse OP THR      reads a /api/v1/query answer on stdin and prints one line:
 *                             `value WORST COUNT BREACH` (an instant vector or a scalar; WORST is the
 *                             highest value for > and >=, the lowest for < and <=, NaN only when every
 *                             series is NaN; BREACH 1 when WORST breaches THR),
 *                             `empty` (no series), or `error MESSAGE`; the caller keeps it to ANSWER_CAP bytes
 * nr_watch_guard I NAME Q OP THR FOR
 *                           one poll of guard I (Q URL-encoded): records the sample in $nr_watch_dir/I,
 *                           prints the progress line, sets nr_watch_breach=I on a breach, and
 *                           nr_watch_failed=I on a failed query under on-query-error=fail
 *
 * The JSON is read without a JSON parser: escaped backslashes and quotes are
 * dropped first, so no text inside a string (a label value, an error message)
 * can hold a quote and look like a "value" field; then every `"value":[t,"v"]`
 * (or a scalar's `"result":[t,"v"]`) is one series.
 */
export const WATCH =
  new Shell(`nr_watch_gnu_wget=; wget --version 2>/dev/null | grep -q 'GNU Wget' && nr_watch_gnu_wget=1
nr_prom_get() {
  if command -v curl >/dev/null 2>&1; then
    nr_pc=$(curl -sS -m ${QUERY_TIMEOUT} -o "$2" -w '%{http_code}' "$1" 2>"$2.err")
  else
    : > "$2"
    # timeout(1) rather than wget -T (see nr_http_ok); GNU wget keeps the body of a 400, which says what is wrong with the query
    if [ -n "$nr_watch_gnu_wget" ]; then timeout ${QUERY_TIMEOUT} wget --content-on-error -S -O "$2" "$1" 2>"$2.err"
    else timeout ${QUERY_TIMEOUT} wget -S -O "$2" "$1" 2>"$2.err"; fi
    nr_pc=$(grep -o 'HTTP/[0-9.]* [0-9][0-9][0-9]' "$2.err" | tail -n 1 | sed 's/.* //')
  fi
  case $nr_pc in [1-9][0-9][0-9]) printf '%s' "$nr_pc" ;; *) printf 0 ;; esac
}
nr_prom_parse() {
  awk -v op="$1" -v thr="$2" '
    function num(v) { if (v == "+Inf" || v == "Inf") return 1e308 * 10; if (v == "-Inf") return -1e308 * 10; return v + 0 }
    function clean(s) { gsub(/[^ -~]/, " ", s); return substr(s, 1, 200) }
    { body = body $0 " " }
    END {
      gsub(/\\\\\\\\/, "", body); gsub(/\\\\"/, "", body)
      ws = "[ \\t\\r\\n]*"
      if (body !~ ("\\"status\\"" ws ":" ws "\\"success\\"")) {
        msg = "not a Prometheus query answer"
        if (match(body, "\\"error\\"" ws ":" ws "\\"[^\\"]*\\"")) { msg = substr(body, RSTART, RLENGTH); sub(/^"error"[^:]*:[^"]*"/, "", msg); sub(/"$/, "", msg) }
        print "error " clean(msg); exit
      }
      type = ""
      if (match(body, "\\"resultType\\"" ws ":" ws "\\"[a-z]*\\"")) { type = substr(body, RSTART, RLENGTH); sub(/"$/, "", type); sub(/.*"/, "", type) }
      if (type == "vector") pat = "\\"value\\"" ws ":" ws "\\\\[[^],]*," ws "\\"[^\\"]*\\""
      else if (type == "scalar") pat = "\\"result\\"" ws ":" ws "\\\\[[^],]*," ws "\\"[^\\"]*\\""
      else { print "error the query returns a " (type == "" ? "result of no known type" : type) ", not an instant vector or a scalar"; exit }
      n = 0; worst = ""; rest = body
      while (match(rest, pat)) {
        v = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH)
        sub(/"$/, "", v); sub(/.*"/, "", v); n++
        if (v !~ /^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$/ && v !~ /^([-+]?Inf|NaN)$/) { print "error a series value is not a number: " clean(v); exit }
        if (v == "NaN") { if (worst == "") worst = v; continue }
        if (worst == "" || worst == "NaN" || (op ~ /^>/ ? num(v) > num(worst) : num(v) < num(worst))) worst = v
      }
      if (n == 0) { print "empty"; exit }
      b = 0
      if (worst != "NaN") {
        x = num(worst); t = thr + 0
        if (op == ">") b = x > t; else if (op == ">=") b = x >= t; else if (op == "<") b = x < t; else if (op == "<=") b = x <= t
      }
      print "value " clean(worst) " " n " " (b ? 1 : 0)
    }'
}
nr_watch_guard() {
  nr_wi=$1; nr_wn=$2; nr_wq=$3; nr_wop=$4; nr_wthr=$5; nr_wfor=$6; nr_wf="$nr_watch_dir/$1"
  nr_wcode=$(nr_prom_get "$nr_watch_url/api/v1/query?query=$nr_wq" "$nr_wf.body")
  if [ "$nr_wcode" = 0 ]; then
    nr_wres="error no answer from $nr_watch_url: $(tail -c 200 "$nr_wf.body.err" 2>/dev/null | tr -c ' -~' ' ')"
  elif nr_wsize=$(wc -c < "$nr_wf.body") && [ "$((nr_wsize))" -gt ${ANSWER_CAP} ]; then
    # a series past any cut could be the one that breaches: an answer too long to read whole is not read at all
    nr_wres="error the answer is $((nr_wsize)) bytes, over the ${ANSWER_CAP} the watch reads: aggregate the query (max, sum, topk) so it returns fewer series"
  else
    nr_wres=$(nr_prom_parse "$nr_wop" "$nr_wthr" < "$nr_wf.body")
    case $nr_wcode in 2??) ;; *) nr_wres="error HTTP $nr_wcode: \${nr_wres#error }" ;; esac
  fi
  eval "nr_wsince=\\\${nr_watch_since_$nr_wi}"
  case $nr_wres in
    'value '*)
      set -- $nr_wres
      printf '%s v %s %s\\n' "$nr_at" "$2" "$3" >> "$nr_wf"
      if [ "$4" = 1 ]; then
        [ -n "$nr_wsince" ] || nr_wsince=$nr_at
        nr_wheld=$((nr_at - nr_wsince))
        nr_say info "$nr_wn = $2 $nr_wop $nr_wthr: breaching for \${nr_wheld}s of \${nr_wfor}s ($3 series)"
        if [ "$nr_wheld" -ge "$nr_wfor" ]; then
          nr_watch_breach=$nr_wi; nr_watch_why="Guard $nr_wn breached: $2 $nr_wop $nr_wthr for \${nr_wheld}s (its duration: \${nr_wfor}s)"
        fi
      else
        nr_wsince=
        nr_say info "$nr_wn = $2 (limit $nr_wop $nr_wthr): ok ($3 series)"
      fi ;;
    *)
      nr_wsince=
      [ "$nr_wres" = empty ] && nr_wres='error the query returned no series (a metric or label that matches nothing?)'
      printf '%s e %s\\n' "$nr_at" "\${nr_wres#error }" >> "$nr_wf"
      nr_say warn "Guard $nr_wn: query failed: \${nr_wres#error }"
      if [ "$nr_watch_on_error" = fail ]; then
        nr_watch_failed=$nr_wi; nr_watch_why="Guard $nr_wn: its query failed and on-query-error is fail: \${nr_wres#error }"
      fi ;;
  esac
  eval "nr_watch_since_$nr_wi=\\$nr_wsince"
}`);

/** Every byte but letters, digits and `-_.` percent-encoded: the query travels as data of a URL. */
export function urlEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The success line's detail, from how the watch ended on the NAS (`watch passed`, `watch inconclusive`): an
 * inconclusive watch must not be filed as passed. The phase's body runs in a subshell, so the watch leaves its
 * outcome in `file` for the line written after it.
 */
export function watchDetailField(file: string): Shell {
  return sh`nr_wo=$(cat ${file} 2>/dev/null); rm -f ${file}
case $nr_wo in passed|inconclusive) ${new Shell(RECORD_MORE)}="$${new Shell(RECORD_MORE)}"',"detail":"watch '"$nr_wo"'"' ;; esac`;
}

/** The value names the watch reports. */
const STATUS = 'watch_status';
const GUARD = 'watch_guard';
const samplesName = (i: number): string => `watch_samples_${i}`;

/**
 * Shell that watches the guards on the NAS until the watch time is over or a
 * guard breaches; it returns 0 when the release passed, 1 when it must be
 * rolled back (a breach, or a failed query under on-query-error=fail); a
 * watch in which a guard never got one good answer ends `inconclusive`. The
 * PromQL travels URL-encoded as a quoted argument: the shell never reads it.
 */
export function watchGuards(p: WatchPlan, outcomeFile?: string): Shell {
  const every = formatDuration(p.interval);
  const keep = (outcome: string): Shell => (outcomeFile ? sh`printf '%s' ${outcome} > ${outcomeFile}` : sh`:`);
  const polls = p.guards.map(
    (g, i) => sh`nr_watch_guard ${i + 1} ${g.name} ${urlEncode(g.query)} ${g.op} ${g.threshold} ${g.forSeconds}`,
  );
  return lines(
    WATCH,
    sh`nr_watch() {
nr_watch_url=${p.metricsUrl.replace(/\/+$/, '')}; nr_watch_on_error=${p.onQueryError}
nr_watch_dir=$(mktemp -d) || { nr_say fail 'Watch: no temporary directory'; return 1; }
nr_watch_breach=; nr_watch_failed=; nr_watch_why=; nr_watch_n=0; nr_watch_t0=$(date +%s)
nr_say group ${`Watching ${p.guards.length} guard(s) for ${formatDuration(p.seconds)}, every ${every}, at ${p.metricsUrl}`}
while :; do
  nr_at=$(( $(date +%s) - nr_watch_t0 )); nr_watch_n=$((nr_watch_n + 1))
  nr_say info "poll $nr_watch_n at \${nr_at}s of ${new Shell(String(p.seconds))}s"`,
    ...polls,
    sh`  [ -n "$nr_watch_breach$nr_watch_failed" ] && break
  [ "$nr_at" -ge ${p.seconds} ] && break
  nr_next=$((nr_watch_t0 + nr_watch_n * ${p.interval})); [ "$nr_next" -le $((nr_watch_t0 + ${p.seconds})) ] || nr_next=$((nr_watch_t0 + ${p.seconds}))
  nr_left=$((nr_next - $(date +%s))); [ "$nr_left" -le 0 ] || nr_sleep "$nr_left"
done
nr_say endgroup
[ -z "$nr_watch_why" ] || nr_say fail "$nr_watch_why"`,
    ...p.guards.map(
      (_, i) => sh`nr_value ${samplesName(i + 1)} "$(base64 < "$nr_watch_dir/"${i + 1} 2>/dev/null | tr -d '\\n')"`,
    ),
    // A guard without one value in its samples watched nothing: the watch cannot say the release passed.
    sh`nr_watch_silent=`,
    ...p.guards.map(
      (g, i) =>
        sh`grep -q '^[0-9]* v ' "$nr_watch_dir/"${i + 1} 2>/dev/null || nr_watch_silent="$nr_watch_silent "${g.name}`,
    ),
    sh`rm -rf "$nr_watch_dir"
if [ -n "$nr_watch_breach" ]; then nr_value ${STATUS} breached; nr_value ${GUARD} "$nr_watch_breach"; return 1; fi
if [ -n "$nr_watch_failed" ]; then nr_value ${STATUS} query-failed; nr_value ${GUARD} "$nr_watch_failed"; return 1; fi
if [ -n "$nr_watch_silent" ]; then
  nr_value ${STATUS} inconclusive; ${keep('inconclusive')}
  nr_say warn "Watch inconclusive: guard(s)$nr_watch_silent never got one good answer in ${new Shell(formatDuration(p.seconds))}; the release stays, but nothing watched it"
  return 0
fi
nr_value ${STATUS} passed; ${keep('passed')}; nr_say ok ${`Watch passed: no guard breached in ${formatDuration(p.seconds)}`}
}`,
  );
}

/** One guard in the watch's report. */
export interface GuardReport {
  name: string;
  query: string;
  condition: string;
  samples: Sample[];
  /** The worst value seen (highest for > and >=, lowest for < and <=); undefined when no query answered. */
  worst?: number;
  /** How many polls failed or returned nothing. */
  errors: number;
  breached: boolean;
}

export interface WatchResult {
  /**
   * What the NAS reported: empty when the watch did not run (or its report was cut short);
   * `inconclusive` when it ran to its end but a guard never got one good answer.
   */
  status: '' | 'passed' | 'inconclusive' | 'breached' | 'query-failed';
  /** The guard that ended the watch (breached, or whose query failed under on-query-error=fail). */
  guard?: GuardReport;
  guards: GuardReport[];
}

function decodeSamples(b64: string | undefined): Sample[] {
  const out: Sample[] = [];
  for (const line of Buffer.from(b64 ?? '', 'base64')
    .toString('utf8')
    .split('\n')) {
    const m = /^(\d+) (v|e) (.*)$/.exec(line);
    if (!m) continue;
    const at = Number(m[1]);
    if (m[2] === 'e') out.push({ at, error: m[3] });
    else {
      const raw = m[3].split(' ')[0];
      const value = raw === '+Inf' || raw === 'Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
      out.push({ at, value });
    }
  }
  return out;
}

/** The watch's values as the runner reads them. */
export function decodeWatch(values: ReadonlyMap<string, string>, guards: readonly Guard[]): WatchResult {
  const raw = values.get(STATUS) ?? '';
  const status: WatchResult['status'] =
    raw === 'passed' || raw === 'inconclusive' || raw === 'breached' || raw === 'query-failed' ? raw : '';
  const reports = guards.map((g, i): GuardReport => {
    const samples = decodeSamples(values.get(samplesName(i + 1)));
    const seen = samples.flatMap((s) => (s.value === undefined ? [] : [s.value]));
    const worst = worstOf(g, seen);
    return {
      name: g.name,
      query: g.query,
      condition: describeGuard(g),
      samples,
      ...(worst === undefined ? {} : { worst }),
      errors: samples.filter((s) => s.error !== undefined).length,
      breached: breachAt(g, samples) !== undefined,
    };
  });
  const index = Number(values.get(GUARD) ?? '0') - 1;
  const guard = reports[index];
  return { status, guards: reports, ...(guard ? { guard } : {}) };
}
