package notify

import (
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

func TestSample(t *testing.T) {
	pipelinetest.CheckSample(t, pipeline.KindOutput, "notify", "receiver", "escalate", "routes", "receivers")
}
