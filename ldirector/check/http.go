package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// maxRedirects is LWP::UserAgent's max_redirect: ldirectord follows up
// to 7 redirects of a GET or HEAD and judges the last answer.
const maxRedirects = 7

// httpURL is the URL ldirectord's ld_setup builds: the request as it is
// when it is a full URL of the service's scheme, else
// scheme://server:port/request.
func httpURL(s Spec) string {
	scheme := s.Service
	if scheme == "http_proxy" {
		scheme = "http"
	}
	if strings.Contains(s.Request, scheme+"://") {
		return trimSlash(s.Request)
	}
	if s.Service == "http_proxy" {
		return trimSlash(s.Request)
	}
	return scheme + "://" + serverHost(s.Addr.Addr()) + ":" + strconv.Itoa(int(s.Addr.Port())) + "/" + trimSlash(s.Request)
}

// checkHTTP fetches the URL with httpmethod (GET unless HEAD), following
// redirects, and wants a 2xx answer whose body matches receive when one
// is given (LWP's is_success and content). The Host header is the
// virtualhost, else the server's address without port, as ldirectord
// sends it. https does not verify the certificate. http_proxy sends the
// request, a full URL, through the real server as a proxy.
func checkHTTP(ctx context.Context, s Spec) error {
	target := httpURL(s)
	method := s.HTTPMethod
	if method == "" {
		method = http.MethodGet
	}
	var re *regexp.Regexp
	if s.Receive != "" {
		r, err := receiveRE(s.Receive)
		if err != nil {
			return err
		}
		re = r
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if s.Service == "http_proxy" {
			return fmt.Errorf("http_proxy check needs a full http:// URL as request, not %q", s.Request)
		}
		return fmt.Errorf("request %q does not make a URL: %s", s.Request, target)
	}
	var d net.Dialer
	tr := &http.Transport{
		DialContext:            d.DialContext,
		TLSClientConfig:        insecureTLS(),
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
	}
	if s.Service == "http_proxy" {
		proxy := &url.URL{Scheme: "http", Host: s.Addr.String()}
		tr.Proxy = http.ProxyURL(proxy)
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	if s.Service != "http_proxy" {
		req.Host = s.VirtualHost
		if req.Host == "" {
			req.Host = serverHost(s.Addr.Addr())
		}
	}
	req.Header.Set("User-Agent", "hbgo-ldirector")
	res, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s: %w", target, stageErr(ctx, "", err))
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("%s: status %s", target, res.Status)
	}
	if re == nil {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxRead))
	if err != nil {
		return fmt.Errorf("%s: reading the body: %w", target, stageErr(ctx, "", err))
	}
	if !perlMatch(re, string(body)) {
		return fmt.Errorf("%s: %w", target, notFound(s.Receive, "the body"))
	}
	return nil
}
