package check

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

const mariadbInit = `CREATE DATABASE lvs;
CREATE TABLE lvs.director_slave (id INT, enabled INT);
INSERT INTO lvs.director_slave VALUES (1, 1), (2, 0);
CREATE USER 'checker'@'127.0.0.1' IDENTIFIED BY 's3cret';
GRANT SELECT ON lvs.* TO 'checker'@'127.0.0.1';
`

// mariadb starts MariaDB on a fresh datadir and a loopback port, with
// user checker (password s3cret) who may read database lvs.
func mariadb(t *testing.T) uint16 {
	install := need(t, "mariadb-install-db", "mariadb-server")
	bin := need(t, "mariadbd", "mariadb-server")
	needRoot(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	out, err := exec.Command(install, "--no-defaults", "--datadir="+data, "--user=root",
		"--auth-root-authentication-method=socket", "--skip-test-db").CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	initFile := filepath.Join(dir, "init.sql")
	if err := os.WriteFile(initFile, []byte(mariadbInit), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	p := start(t, dir, exec.Command(bin, "--no-defaults", "--datadir="+data, "--user=root",
		"--port="+strconv.Itoa(int(port)), "--bind-address=127.0.0.1", "--skip-networking=0",
		"--socket="+filepath.Join(dir, "mysqld.sock"), "--pid-file="+filepath.Join(dir, "mysqld.pid"),
		"--init-file="+initFile, "--skip-log-bin", "--innodb-buffer-pool-size=16M",
		"--log-error="+filepath.Join(dir, "error.log")))
	t.Cleanup(p.stop)
	p.waitListen(t, loop(port))
	return port
}

func TestMySQL(t *testing.T) {
	parallel(t)
	port := mariadb(t)
	s := Spec{Type: Negotiate, Service: "mysql", Protocol: "tcp", Addr: loop(port),
		Login: "checker", Passwd: "s3cret", Database: "lvs",
		Request: "SELECT * FROM director_slave WHERE enabled=1"}
	testSQL(t, s, "Access denied", "doesn't exist")
}

// testSQL runs the cases both databases share.
func testSQL(t *testing.T, s Spec, denied, noTable string) {
	t.Helper()
	wantUp(t, s)
	q := s
	q.Request = "/" + s.Request // ldirectord's leading slash
	wantUp(t, q)

	q.Request = "SELECT id FROM director_slave WHERE enabled=2"
	wantDown(t, q, true, "returned no rows")
	q.Request = "SELECT * FROM no_such_table"
	wantDown(t, q, true, noTable)
	bad := s
	bad.Passwd = "wrong"
	wantDown(t, bad, true, denied)
	none := s
	none.Login = ""
	wantDown(t, none, true, "needs a login and a request")
	none = s
	none.Request = "/"
	wantDown(t, none, true, "needs a login and a request")

	down := s
	down.Addr = refused(t)
	wantDown(t, down, true, "connection refused")
	slow := s
	slow.Addr = silent(t)
	wantTimeout(t, slow)
	t.Run("no leaks", func(t *testing.T) {
		noLeaks(t, func() {
			for i := 0; i < 3; i++ {
				run(s)
				run(bad)
			}
		})
	})
}

const pgHBA = `local all all trust
host all all 127.0.0.1/32 scram-sha-256
`

// postgres starts PostgreSQL (as the postgres user: it refuses root) on
// a fresh cluster and a loopback port, with role checker (password
// s3cret) owning database lvs.
func postgres(t *testing.T) uint16 {
	needRoot(t)
	var pgbin string
	for _, p := range []string{"/usr/lib/postgresql/*/bin/postgres"} {
		if m, _ := filepath.Glob(p); len(m) > 0 {
			pgbin = filepath.Dir(m[len(m)-1])
		}
	}
	if pgbin == "" {
		missing(t, "postgres not found under /usr/lib/postgresql (Debian package postgresql)")
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		missing(t, "no postgres user (Debian package postgresql)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // the postgres user must reach it
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	own := func(p string) {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	own(dir)
	data := filepath.Join(dir, "data")
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	own(pw)
	initdb := exec.Command(filepath.Join(pgbin, "initdb"), "-D", data, "-U", "checker", "--pwfile="+pw,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = cred
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	sock := filepath.Join(dir, "sock")
	os.Mkdir(sock, 0o755)
	own(sock)
	cmd := exec.Command(filepath.Join(pgbin, "postgres"), "-D", data, "-p", strconv.Itoa(int(port)),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+sock, "-c", "fsync=off",
		"-c", "shared_buffers=8MB")
	cmd.SysProcAttr = cred
	cmd.Dir = dir
	p := start(t, dir, cmd)
	t.Cleanup(p.stop)
	p.waitListen(t, loop(port))
	sql := `CREATE DATABASE lvs;`
	psql := func(db, sql string) {
		// The TCP port opens a moment before the server takes logins.
		deadline := time.Now().Add(startWait)
		for {
			c := exec.Command(filepath.Join(pgbin, "psql"), "-h", sock, "-p", strconv.Itoa(int(port)), "-U", "checker", "-d", db, "-v", "ON_ERROR_STOP=1", "-c", sql)
			c.SysProcAttr = cred
			c.Dir = dir
			out, err := c.CombinedOutput()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("psql %s: %v\n%s\n%s", sql, err, out, p.log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	psql("postgres", sql)
	psql("lvs", `CREATE TABLE director_slave (id INT, enabled INT); INSERT INTO director_slave VALUES (1, 1), (2, 0);`)
	return port
}

func TestPgSQL(t *testing.T) {
	parallel(t)
	port := postgres(t)
	s := Spec{Type: Negotiate, Service: "pgsql", Protocol: "tcp", Addr: loop(port),
		Login: "checker", Passwd: "s3cret", Database: "lvs",
		Request: "SELECT * FROM director_slave WHERE enabled=1"}
	testSQL(t, s, "password authentication failed", "does not exist")
}
