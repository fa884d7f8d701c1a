package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/interoceptor/interoceptor/pipeline"
)

func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("reload", "", stderr)
	admin := addAdminFlags(fs)
	plugin := fs.String("plugin", "", "reload only this plugin's script and own table (its name, or e.g. filters.lua[cpu]); default: the whole config")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: interoceptor reload [flags]\n\nAsk a running pipeline to reload, through its admin API: it loads its config files again\n"+
			"and applies what changed (plugins added, removed or changed; Lua scripts), or, if the\n"+
			"new config has errors, lists them and keeps running as it was. SIGHUP does the same.\n"+
			"The token comes from -config (agent.admin_token, or admin_user and admin_password) or from $%s.\n\nFlags:\n", adminTokenEnv)
		fs.PrintDefaults()
	}
	if code, done := parse(fs, args); done {
		return code
	}
	c, err := admin.client()
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor reload:", err)
		return 1
	}
	path := "api/reload"
	if *plugin != "" {
		path += "?plugin=" + url.QueryEscape(*plugin)
	}
	status, body, err := c.do(http.MethodPost, path)
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor reload:", err)
		return 1
	}
	var results []pipeline.ReloadResult
	if err := json.Unmarshal(body, &results); err != nil {
		fmt.Fprintf(stderr, "interoceptor reload: %s: %s\n", status, adminErrorText(body))
		return 1
	}
	code := 0
	for _, r := range results {
		if r.OK {
			action := r.Action
			if action == "" {
				action = pipeline.ActionReloaded
			}
			fmt.Fprintf(stdout, "%s: %s\n", r.Plugin, action)
			if r.Warning != "" {
				fmt.Fprintf(stdout, "%s: not applied: %s\n", r.Plugin, r.Warning)
			}
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
