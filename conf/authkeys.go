package conf

import (
	"crypto/hmac"
	"crypto/sha256"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// AuthMethod is the signature method of an authkeys entry.
type AuthMethod string

// The methods Heartbeat knows. crc only detects corruption; md5 and sha1
// are HMACs keyed by the secret.
const (
	AuthCRC  AuthMethod = "crc"
	AuthMD5  AuthMethod = "md5"
	AuthSHA1 AuthMethod = "sha1"
)

var authMethods = []string{string(AuthCRC), string(AuthMD5), string(AuthSHA1)}

// Key numbers Heartbeat accepts (authkeys(5)).
const (
	MinAuthKey = 1
	MaxAuthKey = 15
)

// AuthKey is one "N METHOD [SECRET]" line of authkeys. Secret is empty for
// crc.
type AuthKey struct {
	Num    int
	Method AuthMethod
	Secret string
	Line   int
}

// Authkeys is a parsed authkeys file: the key selected by "auth N" signs
// outgoing packets, and every listed key is accepted on incoming ones, so a
// key can be changed without stopping the cluster.
type Authkeys struct {
	File       string
	Active     int // the N of "auth N"; 0 when missing
	ActiveLine int
	Keys       map[int]AuthKey
}

// Defined returns every key authkeys defines, by number.
func (a *Authkeys) Defined() []AuthKey {
	var out []AuthKey
	for n := MinAuthKey; n <= MaxAuthKey; n++ {
		if k, ok := a.Keys[n]; ok {
			out = append(out, k)
		}
	}
	return out
}

// ActiveKey returns the key that "auth N" selects, and false when there is
// none (no auth line, or N not defined).
func (a *Authkeys) ActiveKey() (AuthKey, bool) {
	if a == nil {
		return AuthKey{}, false
	}
	k, ok := a.Keys[a.Active]
	return k, ok
}

// authDeriveLabel separates hbgo's derived keys from any other use of the
// secret; the purpose follows it.
const authDeriveLabel = "hbgo authkeys key derivation\x00"

// Derive returns a 32-byte key for one purpose, computed as
// HMAC-SHA256(secret, "hbgo authkeys key derivation" || 0x00 || purpose).
// Each consumer of the shared secret (heartbeat packets, the raft
// transport, memberlist encryption) passes its own purpose string, so the
// keys are independent: learning one does not reveal the secret or the
// others, and no two protocols ever see the same key. Changing the secret in
// authkeys changes every derived key. A crc key has no secret, so its
// derived keys are public constants that protect nothing.
func (k AuthKey) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, []byte(k.Secret))
	m.Write([]byte(authDeriveLabel))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// CheckAuthkeysMode refuses an authkeys file that group or others can read
// or write, as Heartbeat refuses to start on one: anyone who reads it can
// forge cluster messages, anyone who writes it can replace the key.
func CheckAuthkeysMode(file string, mode fs.FileMode, ds *Diags) {
	if !mode.IsRegular() {
		ds.Errorf(file, 0, "authkeys is not a regular file (mode %s)", mode)
		return
	}
	perm := mode.Perm()
	var what string
	switch {
	case perm&0o044 != 0:
		what = "readable"
	case perm&0o022 != 0:
		what = "writable"
	default:
		return
	}
	ds.Errorf(file, 0, "authkeys is %s by group or others (mode %04o); chmod 600 authkeys", what, perm)
}

// ParseAuthkeys reads an authkeys file the way Heartbeat does:
//
//	auth N
//	N crc
//	N md5 SECRET
//	N sha1 SECRET
//
// A line whose first non-blank character is '#' is a comment. As in
// Heartbeat the secret is one word: text after it is ignored (with a
// warning unless it is a '#' comment), and quotes are not special. Every
// problem goes to ds; the result holds whatever could be read.
func ParseAuthkeys(file string, data []byte, ds *Diags) *Authkeys {
	a := &Authkeys{File: file, Keys: map[int]AuthKey{}}
	for i, raw := range strings.Split(string(data), "\n") {
		num := i + 1
		fields := strings.Fields(raw)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if fields[0] == "auth" {
			a.parseAuth(num, fields[1:], ds)
			continue
		}
		if rest, ok := strings.CutPrefix(fields[0], "auth"); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
			// Heartbeat reads the line with sscanf("auth %d"), where the
			// blank matches none: "auth1" selects key 1.
			ds.Warnf(file, num, "%q read as \"auth %s\", as Heartbeat reads it", clipArg(fields[0]), rest)
			a.parseAuth(num, append([]string{rest}, fields[1:]...), ds)
			continue
		}
		n, err := strconv.Atoi(fields[0])
		if err != nil {
			ds.Errorf(file, num, "%q: want \"auth N\" or \"N METHOD [SECRET]\"%s", clipArg(fields[0]), didYouMean(fields[0], []string{"auth"}))
			continue
		}
		a.parseKey(num, n, fields[1:], ds)
	}
	switch {
	case a.ActiveLine == 0:
		ds.Errorf(file, 0, "no auth line selects the signing key; add \"auth N\" naming one of the keys")
	case a.Active != 0:
		if _, ok := a.Keys[a.Active]; !ok {
			ds.Errorf(file, a.ActiveLine, "auth %d selects key %d, which is not defined%s", a.Active, a.Active, a.defined())
		}
	}
	return a
}

func (a *Authkeys) parseAuth(num int, args []string, ds *Diags) {
	if a.ActiveLine != 0 {
		ds.Errorf(a.File, num, "auth repeats line %d; only one key can sign", a.ActiveLine)
		return
	}
	a.ActiveLine = num
	if len(args) == 0 {
		ds.Errorf(a.File, num, "auth needs a key number (auth %d)", MinAuthKey)
		return
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < MinAuthKey || n > MaxAuthKey {
		ds.Errorf(a.File, num, "auth: %q is not a key number %d-%d", clipArg(args[0]), MinAuthKey, MaxAuthKey)
		return
	}
	a.Active = n
	if len(args) > 1 && !strings.HasPrefix(args[1], "#") {
		ds.Warnf(a.File, num, "auth: text after the key number is ignored: %q", clipArg(strings.Join(args[1:], " ")))
	}
}

func (a *Authkeys) parseKey(num, n int, args []string, ds *Diags) {
	if n < MinAuthKey || n > MaxAuthKey {
		ds.Errorf(a.File, num, "key number %d is out of range %d-%d", n, MinAuthKey, MaxAuthKey)
		return
	}
	if prev, ok := a.Keys[n]; ok {
		ds.Errorf(a.File, num, "key %d repeats line %d", n, prev.Line)
		return
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "#") {
		ds.Errorf(a.File, num, "key %d has no method; want crc, md5 or sha1", n)
		return
	}
	m := args[0]
	if !slices.Contains(authMethods, m) {
		ds.Errorf(a.File, num, "key %d: unknown method %q, want crc, md5 or sha1%s", n, clipArg(m), didYouMean(m, authMethods))
		return
	}
	k := AuthKey{Num: n, Method: AuthMethod(m), Line: num}
	rest := args[1:]
	if len(rest) > 0 && strings.HasPrefix(rest[0], "#") {
		rest = nil
	}
	switch k.Method {
	case AuthCRC:
		if len(rest) > 0 {
			ds.Errorf(a.File, num, "key %d: crc takes no secret", n)
			return
		}
		ds.Warnf(a.File, num, "key %d: crc gives no authentication; use sha1", n)
	default:
		if len(rest) == 0 {
			ds.Errorf(a.File, num, "key %d: %s needs a secret", n, m)
			return
		}
		k.Secret = rest[0]
		if len(rest) > 1 && !strings.HasPrefix(rest[1], "#") {
			ds.Warnf(a.File, num, "key %d: the secret is one word, as in Heartbeat; %q after it is ignored", n, clipArg(strings.Join(rest[1:], " ")))
		}
		if k.Method == AuthMD5 {
			ds.Warnf(a.File, num, "key %d: md5 is weak; use sha1", n)
		}
	}
	a.Keys[n] = k
}

// defined lists the key numbers present, for an "is not defined" message.
func (a *Authkeys) defined() string {
	if len(a.Keys) == 0 {
		return " (no key is)"
	}
	nums := make([]int, 0, len(a.Keys))
	for n := range a.Keys {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	s := make([]string, len(nums))
	for i, n := range nums {
		s[i] = strconv.Itoa(n)
	}
	return " (defined: " + strings.Join(s, ", ") + ")"
}

// clipArg prepares user input for a message: control characters are
// escaped so that a diagnostic stays on one line, and long input is cut so
// that one bad line cannot flood the output.
func clipArg(s string) string {
	const limit = 40
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == limit {
			b.WriteString("...")
			break
		}
		n++
		if unicode.IsPrint(r) {
			b.WriteRune(r)
		} else {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}
