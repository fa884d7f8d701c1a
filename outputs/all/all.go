// Package all registers every output plugin: import it for its side effects.
package all

import (
	_ "github.com/interoceptor/interoceptor/outputs/alertmanager" // outputs.alertmanager
	_ "github.com/interoceptor/interoceptor/outputs/file"         // outputs.file
	_ "github.com/interoceptor/interoceptor/outputs/influxdb"     // outputs.influxdb
	_ "github.com/interoceptor/interoceptor/outputs/notify"       // outputs.notify
	_ "github.com/interoceptor/interoceptor/outputs/stdout"       // outputs.stdout
)
