package main

import "strings"

// writeAlerts writes the section of the alerting scenarios.
func (rep *report) writeAlerts(b *strings.Builder) {}
