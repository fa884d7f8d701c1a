package anomaly

import "github.com/interoceptor/interoceptor/sandbox"

func init() {
	sandbox.RegisterModule(Name, Loader)
	sandbox.RegisterRestore(DetectorType, RestoreDetector)
	sandbox.RegisterRestore(SetType, RestoreSet)
}
