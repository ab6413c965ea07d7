package check

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// sqlQuery is the request as ldirectord's check_sql runs it: without
// its leading "/". Both a login and a query are required, else the
// check fails as ldirectord's does.
func sqlQuery(s Spec) (string, error) {
	q := trimSlash(s.Request)
	if s.Login == "" || q == "" {
		return "", fmt.Errorf("%s %s: a %s check needs a login and a request (an SQL query)", s.Service, s.Addr, s.Service)
	}
	return q, nil
}

// checkMySQL connects with login, passwd and database, runs the request
// and wants at least one row, as ldirectord's check_sql through DBI.
// receive is not used, as in ldirectord. go-sql-driver/mysql speaks
// the protocol.
func checkMySQL(ctx context.Context, s Spec) error {
	q, err := sqlQuery(s)
	if err != nil {
		return err
	}
	target := "mysql " + s.Addr.String()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = s.Login, s.Passwd, s.Database
	cfg.Net, cfg.Addr = "tcp", s.Addr.String()
	if d, ok := ctx.Deadline(); ok {
		// A little after ctx, so that ctx ends the check and says so.
		t := time.Until(d) + 100*time.Millisecond
		cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = t, t, t
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxIdleConns(0)
	c, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "connect as "+s.Login, err))
	}
	defer c.Close()
	return countRows(ctx, target, q, func() (rowsIter, error) { return c.QueryContext(ctx, q) })
}

func init() {
	// The driver logs I/O errors on its own; the check's error says it.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
}

// rowsIter is what countRows needs of a result.
type rowsIter interface {
	Next() bool
	Err() error
	Close() error
}

// countRows runs a query and fails unless it returns a row.
func countRows(ctx context.Context, target, q string, query func() (rowsIter, error)) error {
	rows, err := query()
	if err != nil {
		return fmt.Errorf("%s: query %s: %w", target, strconv.Quote(q), stageErr(ctx, "", err))
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: query %s: %w", target, strconv.Quote(q), stageErr(ctx, "", err))
	}
	if n == 0 {
		return fmt.Errorf("%s: query %s returned no rows", target, strconv.Quote(q))
	}
	return nil
}

// pgRows adapts pgx's rows to rowsIter.
type pgRows struct{ pgx.Rows }

func (r pgRows) Close() error { r.Rows.Close(); return nil }

// checkPgSQL is checkMySQL for PostgreSQL, through pgx. An empty
// database connects to the login's own, as libpq does.
func checkPgSQL(ctx context.Context, s Spec) error {
	q, err := sqlQuery(s)
	if err != nil {
		return err
	}
	target := "pgsql " + s.Addr.String()
	// TLS if the server offers it, else plain: libpq's sslmode=prefer,
	// which DBD::Pg uses by default. The connection string holds only
	// the address; the credentials go into the parsed config.
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d sslmode=prefer",
		s.Addr.Addr().Unmap(), s.Addr.Port()))
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	db := s.Database
	if db == "" {
		db = s.Login
	}
	cfg.User, cfg.Password, cfg.Database = s.Login, s.Passwd, db
	for _, fb := range cfg.Fallbacks {
		if fb.TLSConfig != nil {
			fb.TLSConfig.InsecureSkipVerify = true
		}
	}
	if cfg.TLSConfig != nil {
		cfg.TLSConfig.InsecureSkipVerify = true
	}
	cfg.RuntimeParams = map[string]string{"application_name": "hbgo-ldirector"}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "connect as "+s.Login, err))
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = c.Close(cctx)
	}()
	return countRows(ctx, target, q, func() (rowsIter, error) {
		rows, err := c.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		return pgRows{rows}, nil
	})
}
