import { Shell, lines, sh } from './shell.js';

export interface HttpRequest {
  /** A short id: letters, digits and underscores. */
  id: string;
  url: string;
  /** Sends the Authorization header (the program's `nr_auth` variable). */
  auth?: boolean;
}

export interface HttpResponse {
  /** 0 when no answer came (refused, timed out). */
  status: number;
  body: string;
  /** What the client said when there was no answer. */
  error: string;
}

/**
 * GETs every URL from the NAS at once (curl, else wget), each with a short
 * timeout, and reports `http_<id>` as `<status> <base64 body> <base64 error>`.
 * The Authorization header, when given, is written to private temporary
 * files (a header file for curl, a wgetrc for GNU wget) and never appears in
 * a command line; BusyBox wget, which takes it only as an argument, is not
 * given it: the check reports that it needs curl or GNU wget.
 */
export function httpGetAll(requests: readonly HttpRequest[], authorization: string, timeoutSeconds = 5): Shell {
  for (const r of requests) if (!/^\w+$/.test(r.id)) throw new Error(`bad request id ${r.id}`);
  // one line, as every client's header file wants it (and nothing more can ride along)
  if (/[\r\n]/.test(authorization)) throw new Error('the Authorization header must be a single line');
  const one = (r: HttpRequest): Shell => sh`( nr_get ${r.id} ${r.url} ${r.auth && authorization ? 'auth' : ''} ) &`;
  return lines(
    sh`nr_tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$nr_tmp"' EXIT
nr_auth=${authorization}
# The credentials go to the client in private files (curl's -H @file, GNU wget's wgetrc), never on its command line.
( umask 077; [ -n "$nr_auth" ] && printf 'Authorization: %s\n' "$nr_auth" > "$nr_tmp/auth" && printf 'header = Authorization: %s\n' "$nr_auth" > "$nr_tmp/wgetrc" )
nr_gnu_wget=; wget --version 2>/dev/null | grep -q 'GNU Wget' && nr_gnu_wget=1
nr_get() {
  nr_f="$nr_tmp/$1"
  if command -v curl >/dev/null 2>&1; then
    if [ -n "$3" ]; then nr_code=$(curl -sS -m ${timeoutSeconds} -o "$nr_f.body" -w '%{http_code}' -H @"$nr_tmp/auth" "$2" 2>"$nr_f.err")
    else nr_code=$(curl -sS -m ${timeoutSeconds} -o "$nr_f.body" -w '%{http_code}' "$2" 2>"$nr_f.err"); fi
  elif [ -n "$3" ] && [ -z "$nr_gnu_wget" ]; then
    # BusyBox wget takes headers only as arguments, which every NAS user can read in ps
    printf '%s\n' "an authenticated check needs curl or GNU wget on the NAS: this wget would show the credentials on its command line" > "$nr_f.err"
    nr_code=0
  else
    # timeout(1) rather than wget -T, which some BusyBox builds lack or crash on
    if [ -n "$3" ]; then WGETRC="$nr_tmp/wgetrc" timeout ${timeoutSeconds} wget -S -O "$nr_f.body" "$2" 2>"$nr_f.err"
    else timeout ${timeoutSeconds} wget -S -O "$nr_f.body" "$2" 2>"$nr_f.err"; fi
    nr_code=$(grep -o 'HTTP/[0-9.]* [0-9][0-9][0-9]' "$nr_f.err" | tail -n 1 | sed 's/.* //')
  fi
  [ -n "$nr_code" ] || nr_code=0
  printf '%s %s %s' "$nr_code" "$(head -c 200000 "$nr_f.body" 2>/dev/null | base64 | tr -d '\n')" "$(tail -c 300 "$nr_f.err" 2>/dev/null | base64 | tr -d '\n')" > "$nr_f.out"
}`,
    ...requests.map(one),
    new Shell('wait'),
    ...requests.map((r) => sh`nr_value ${'http_' + r.id} "$(cat "$nr_tmp/"${r.id}.out)"`),
  );
}

/** Decodes one `http_<id>` value. */
export function parseHttpValue(value: string | undefined): HttpResponse {
  if (!value) return { status: 0, body: '', error: 'no answer from the check' };
  const [status, body = '', error = ''] = value.split(' ');
  const decode = (b64: string): string => Buffer.from(b64, 'base64').toString('utf8');
  return { status: Number(status) || 0, body: decode(body), error: decode(error).trim() };
}
