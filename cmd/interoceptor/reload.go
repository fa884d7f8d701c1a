package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("reload", "", stderr)
	admin := fs.String("admin", pipeline.DefaultAdminAddr, "the pipeline's admin `address` (its agent.admin_addr)")
	plugin := fs.String("plugin", "", "reload only this plugin (its name, or e.g. filters.lua[cpu]); default: every reloadable plugin")
	if code, done := parse(fs, args); done {
		return code
	}
	u := "http://" + *admin + "/api/reload"
	if *plugin != "" {
		u += "?plugin=" + url.QueryEscape(*plugin)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post(u, "", nil)
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor reload:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var results []pipeline.ReloadResult
	if err := json.Unmarshal(body, &results); err != nil {
		fmt.Fprintf(stderr, "interoceptor reload: %s: %s\n", resp.Status, body)
		return 1
	}
	code := 0
	for _, r := range results {
		if r.OK {
			fmt.Fprintf(stdout, "%s: reloaded\n", r.Plugin)
		} else {
			fmt.Fprintf(stdout, "%s: FAILED, the previous version keeps running: %s\n", r.Plugin, r.Error)
			code = 1
		}
	}
	if len(results) == 0 {
		fmt.Fprintln(stdout, "no plugin can be reloaded")
	}
	return code
}
