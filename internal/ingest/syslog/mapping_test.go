package syslog

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/event"
)

const recvMs = int64(1_773_572_400_000) // testNow in Unix ms

// fieldList renders fields as "name=kind:text", in order.
func fieldList(ev *event.Event) []string {
	out := make([]string, 0, len(ev.Fields))
	for _, f := range ev.Fields {
		out = append(out, fmt.Sprintf("%s=%s:%s", f.Name, f.Kind, f.Text(ev.Time)))
	}
	return out
}

func mapLine(t *testing.T, line string, maxFields int) (event.Event, int) {
	t.Helper()
	m, err := Parse(line, testNow)
	require.NoError(t, err)
	return toEvent(&m, line, "hosts", "10.9.8.7", recvMs, maxFields)
}

func TestToEventRFC5424(t *testing.T) {
	line := `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 8710 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] ` + bom + "An application event log entry..."
	ev, dropped := mapLine(t, line, 200)
	require.Zero(t, dropped)
	require.Equal(t, "hosts", ev.Group)
	require.Equal(t, "mymachine.example.com", ev.Stream)
	require.Equal(t, utc(2003, 10, 11, 22, 14, 15, 3e6).UnixMilli(), ev.Time)
	require.Equal(t, line, ev.Message)
	require.Nil(t, ev.Shape)
	require.Equal(t, []string{
		"facility=string:local4",
		"severity=string:notice",
		"priority=int:165",
		"version=int:1",
		"hostname=string:mymachine.example.com",
		"appName=string:evntslog",
		"procId=string:8710",
		"msgId=string:ID47",
		"message=string:An application event log entry...",
		"sd.exampleSDID@32473.iut=string:3",
		"sd.exampleSDID@32473.eventSource=string:Application",
		"sd.exampleSDID@32473.eventID=string:1011",
		"sd.examplePriority@32473.class=string:high",
	}, fieldList(&ev))
}

func TestToEventSkipsNilValuesAndUsesFallbacks(t *testing.T) {
	ev, _ := mapLine(t, "<0>1 - - - - - -", 200)
	require.Equal(t, "10.9.8.7", ev.Stream, "no HOSTNAME: the sender's address")
	require.Equal(t, recvMs, ev.Time, "no TIMESTAMP: the receive time")
	require.Equal(t, []string{"facility=string:kern", "severity=string:emerg", "priority=int:0", "version=int:1"}, fieldList(&ev))
}

func TestToEventRFC3164(t *testing.T) {
	line := "<34>Oct 11 22:14:15 192.168.1.5 sshd[42]: Accepted key 0123456789abcdef"
	ev, _ := mapLine(t, line, 200)
	require.Equal(t, "192.168.1.5", ev.Stream)
	require.Equal(t, []string{
		"facility=string:auth",
		"severity=string:crit",
		"priority=int:34",
		"hostname=ipv4:192.168.1.5",
		"appName=string:sshd",
		"procId=string:42",
		"message=string:Accepted key 0123456789abcdef",
	}, fieldList(&ev))
}

func TestToEventTypesStructuredData(t *testing.T) {
	ev, _ := mapLine(t, `<14>1 - h - - - [trace id="4bf92f3577b34da6a3ce929d0e0e4736" span="00f067aa0ba902b7" ip="10.0.0.1" n="42"] x`, 200)
	require.Equal(t, []string{
		"facility=string:user", "severity=string:info", "priority=int:14", "version=int:1",
		"hostname=string:h", "message=string:x",
		"sd.trace.id=id128:4bf92f3577b34da6a3ce929d0e0e4736",
		"sd.trace.span=id64:00f067aa0ba902b7",
		"sd.trace.ip=ipv4:10.0.0.1",
		"sd.trace.n=string:42",
	}, fieldList(&ev))
}

func TestToEventRepeatedParamKeepsFirst(t *testing.T) {
	ev, dropped := mapLine(t, `<14>1 - h - - - [a p="1" p="2" q="3"][a p="4"][b p="5"]`, 200)
	require.Zero(t, dropped)
	require.Equal(t, []string{
		"facility=string:user", "severity=string:info", "priority=int:14", "version=int:1", "hostname=string:h",
		"sd.a.p=string:1", "sd.a.q=string:3", "sd.b.p=string:5",
	}, fieldList(&ev))
}

func TestToEventCapsStructuredData(t *testing.T) {
	var sd strings.Builder
	sd.WriteString("[big")
	for i := range 20 {
		fmt.Fprintf(&sd, ` p%d="%d"`, i, i)
	}
	sd.WriteString("]")
	ev, dropped := mapLine(t, "<14>1 - h - - - "+sd.String()+" x", 10)
	require.Len(t, ev.Fields, 10)
	require.Equal(t, 16, dropped) // 6 fixed fields + 4 of the 20 params
	require.Equal(t, "sd.big.p3", ev.Fields[9].Name)
	require.Contains(t, ev.Message, `p19="19"`, "what is left out stays in @message")

	// A cap below the fixed fields still keeps them.
	ev, dropped = mapLine(t, `<14>1 - h a p m [x y="1"] msg`, 1)
	require.Equal(t, 1, dropped)
	require.Len(t, ev.Fields, fixedFields)
}

func TestToEventRepairsInvalidUTF8(t *testing.T) {
	line := "<14>1 - h\xff - - - [x a=\"b\xfe\"] m\xffsg"
	ev, _ := mapLine(t, line, 200)
	require.Equal(t, "<14>1 - h\uFFFD - - - [x a=\"b\uFFFD\"] m\uFFFDsg", ev.Message)
	require.Equal(t, "h\uFFFD", ev.Stream)
	require.Equal(t, []string{
		"facility=string:user", "severity=string:info", "priority=int:14", "version=int:1",
		"hostname=string:h\uFFFD", "message=string:m\uFFFDsg", "sd.x.a=string:b\uFFFD",
	}, fieldList(&ev))
}

func TestFacilityNamesCoverEveryPriority(t *testing.T) {
	for pri := 0; pri <= maxPriority; pri++ {
		m, err := Parse(fmt.Sprintf("<%d>x", pri), testNow)
		require.NoError(t, err)
		ev, _ := toEvent(&m, "", "g", "s", 0, 10)
		require.NotEmpty(t, ev.Fields[0].Str)
		require.NotEmpty(t, ev.Fields[1].Str)
	}
	require.Equal(t, "local7", facilityNames[23])
	require.Equal(t, "debug", severityNames[7])
}
