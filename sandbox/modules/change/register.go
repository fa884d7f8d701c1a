package change

import "github.com/interoceptor/interoceptor/sandbox"

func init() {
	sandbox.RegisterModule(Name, Loader)
	sandbox.RegisterRestore(TypeName, Restore)
}
