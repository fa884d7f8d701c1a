package json

import "github.com/interoceptor/interoceptor/sandbox"

var _ sandbox.Preserver = nullValue{}

func init() {
	sandbox.RegisterModule(Name, Loader)
	sandbox.RegisterRestore(NullTypeName, RestoreNull)
}
