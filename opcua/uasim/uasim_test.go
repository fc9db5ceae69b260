package uasim_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	gopcua "github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var tags = []plc.Tag{
	{Name: "Line1.Temp", Type: plc.TypeLReal},
	{Name: "Line1.Setpoint", Type: plc.TypeReal, Access: plc.ReadWrite},
	{Name: "Line1.Mode", Type: plc.TypeInt, Access: plc.ReadWrite},
}

func connect(t *testing.T, endpoint string) *opcua.Client {
	t.Helper()
	dir := t.TempDir()
	c, err := opcua.New(opcua.Config{Endpoint: endpoint, CertFile: dir + "/c.der", KeyFile: dir + "/k.pem"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSetGetAndClientWrites(t *testing.T) {
	var hooked []string
	s, err := uasim.New(uasim.Config{}, tags, uasim.WithOnWrite(func(tag string, v plc.Value) error {
		if v.Kind() == plc.Int {
			if i, _ := v.Int(); i > 3 {
				return ua.StatusBadOutOfRange
			}
		}
		hooked = append(hooked, tag+"="+v.String())
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("Line1.Temp", plc.FloatValue(plc.LReal, 21.5)); err != nil {
		t.Fatal(err) // Set works on a stopped server too
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if err := s.Start(context.Background()); !errors.Is(err, uasim.ErrRunning) {
		t.Errorf("second Start = %v", err)
	}
	if err := s.Set("Nope", plc.BoolValue(true)); !errors.Is(err, uasim.ErrUnknownTag) {
		t.Errorf("Set unknown = %v", err)
	}
	if err := s.Set("Line1.Mode", plc.StringValue("x")); err == nil {
		t.Error("Set of a string into INT accepted")
	}
	c := connect(t, s.Endpoint())
	ctx := context.Background()
	id := func(n string) *ua.NodeID { return ua.MustParseNodeID(s.NodeID(n)) }
	dvs, err := c.Read(ctx, []*ua.NodeID{id("Line1.Temp")})
	if err != nil || dvs[0].Value.Value() != 21.5 {
		t.Fatalf("read = %v, %v", dvs, err)
	}
	codes, err := c.Write(ctx, []opcua.WriteValue{
		{NodeID: id("Line1.Setpoint"), Value: plc.FloatValue(plc.Real, 7.5)},
		{NodeID: id("Line1.Temp"), Value: plc.FloatValue(plc.LReal, 1)},
		{NodeID: id("Line1.Mode"), Value: plc.IntValue(plc.Int, 9)},
		{NodeID: ua.NewStringNodeID(2, "Line9"), Value: plc.IntValue(plc.Int, 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []ua.StatusCode{ua.StatusOK, ua.StatusBadNotWritable, ua.StatusBadOutOfRange, ua.StatusBadNodeIDUnknown}
	for i := range want {
		if codes[i] != want[i] {
			t.Errorf("write %d: %v, want %v", i, codes[i], want[i])
		}
	}
	if v, _ := s.Get("Line1.Setpoint"); v.Float() != 7.5 {
		t.Errorf("Get after client write = %v", v)
	}
	if v, _ := s.Get("Line1.Mode"); v.Float() != 0 {
		t.Errorf("refused write stored: %v", v)
	}
	if len(hooked) != 1 || hooked[0] != "Line1.Setpoint=7.5" {
		t.Errorf("OnWrite calls = %v", hooked)
	}
}

func TestRestartKeepsPortAndValues(t *testing.T) {
	s, err := uasim.New(uasim.Config{}, tags)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ep := s.Endpoint()
	s.Set("Line1.Temp", plc.FloatValue(plc.LReal, 5))
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal("second Stop:", err)
	}
	if err := s.RemoveNode("Line1.Mode"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if s.Endpoint() != ep {
		t.Fatalf("endpoint moved from %s to %s", ep, s.Endpoint())
	}
	c := connect(t, ep)
	dvs, err := c.Read(context.Background(), []*ua.NodeID{ua.MustParseNodeID(s.NodeID("Line1.Temp")), ua.MustParseNodeID(s.NodeID("Line1.Mode"))})
	if err != nil {
		t.Fatal(err)
	}
	if dvs[0].Value.Value() != 5.0 {
		t.Errorf("value after restart = %v", dvs[0].Value.Value())
	}
	if dvs[1].Status != ua.StatusBadNodeIDUnknown {
		t.Errorf("removed node status = %v", dvs[1].Status)
	}
	if got := s.Tags(); len(got) != 2 {
		t.Errorf("Tags after remove = %v", got)
	}
}

func TestConfigAndTagErrors(t *testing.T) {
	bad := []uasim.Config{
		{Addr: "nonsense"},
		{NamespaceIndex: 100},
		{Security: []string{"Basic128/Sign"}},
		{NoAnonymous: true},
		{Namespaces: []string{"urn:a", "urn:a"}},
		{Namespaces: []string{"urn:a", ""}},
		{Namespaces: []string{"urn:a", "urn:kiln:uasim"}, NamespaceIndex: 3},
	}
	for _, c := range bad {
		if _, err := uasim.New(c, tags); !errors.Is(err, config.ErrInvalid) {
			t.Errorf("New(%+v): %v, want a *config.FieldError", c, err)
		}
	}
	err := uasim.Config{Addr: "nonsense", Namespaces: []string{"urn:a", "urn:a"}, Security: []string{"None", "x"}}.Validate()
	var paths []string
	for _, fe := range config.List(err) {
		paths = append(paths, fe.Path)
	}
	if got := strings.Join(paths, " "); got != "addr namespaces[1] security[1]" {
		t.Errorf("paths %q (%v)", got, err)
	}
	for _, tc := range []struct {
		cfg  uasim.Config
		want string
	}{
		{uasim.Config{Namespaces: []string{"urn:a", "urn:kiln:uasim", "urn:b"}}, "ns=2;s=x"},
		{uasim.Config{Namespaces: []string{"urn:a", "urn:b"}}, "ns=3;s=x"},
		{uasim.Config{Namespaces: []string{"urn:a", "urn:kiln:uasim"}, NamespaceIndex: 2}, "ns=2;s=x"},
	} {
		s, err := uasim.New(tc.cfg, tags)
		if err != nil {
			t.Errorf("New(%+v): %v", tc.cfg, err)
		} else if got := s.NodeID("x"); got != tc.want {
			t.Errorf("New(%+v) serves x as %s, want %s", tc.cfg, got, tc.want)
		}
	}
	badTags := [][]plc.Tag{
		{{Name: "", Type: plc.TypeInt}},
		{{Name: "a..b", Type: plc.TypeInt}},
		{{Name: "a", Type: plc.DataType{}}},
		{{Name: "a", Type: plc.TypeInt}, {Name: "a", Type: plc.TypeInt}},
	}
	for _, tl := range badTags {
		if _, err := uasim.New(uasim.Config{}, tl); err == nil {
			t.Errorf("tags %+v accepted", tl)
		}
	}
}

// activate connects with gopcua's own client over security None (the
// password still encrypted for the server) and returns Connect's error.
func activate(t *testing.T, endpoint string, auth gopcua.Option, tokenType ua.UserTokenType) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	eps, err := gopcua.GetEndpoints(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := gopcua.SelectEndpoint(eps, ua.SecurityPolicyURINone, ua.MessageSecurityModeNone)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gopcua.NewClient(endpoint, auth, gopcua.SecurityFromEndpoint(ep, tokenType), gopcua.AutoReconnect(false))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Connect(ctx)
	_ = c.Close(context.Background())
	return err
}

func TestUsersPasswordsChecked(t *testing.T) {
	s, err := uasim.New(uasim.Config{Users: map[string]string{"operator": "secret"}, NoAnonymous: true}, tags)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cases := []struct {
		name      string
		auth      gopcua.Option
		tokenType ua.UserTokenType
		want      error
	}{
		{"right password", gopcua.AuthUsername("operator", "secret"), ua.UserTokenTypeUserName, nil},
		{"wrong password", gopcua.AuthUsername("operator", "secreT"), ua.UserTokenTypeUserName, ua.StatusBadUserAccessDenied},
		{"password with a suffix", gopcua.AuthUsername("operator", "secret1"), ua.UserTokenTypeUserName, ua.StatusBadUserAccessDenied},
		{"empty password", gopcua.AuthUsername("operator", ""), ua.UserTokenTypeUserName, ua.StatusBadUserAccessDenied},
		{"unknown user", gopcua.AuthUsername("intruder", "secret"), ua.UserTokenTypeUserName, ua.StatusBadUserAccessDenied},
		{"anonymous not offered", gopcua.AuthAnonymous(), ua.UserTokenTypeAnonymous, ua.StatusBadIdentityTokenRejected},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := activate(t, s.Endpoint(), tc.auth, tc.tokenType)
			if tc.want == nil && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// UserName without Users takes any credentials, and still refuses
	// the anonymous token when NoAnonymous says so.
	open, err := uasim.New(uasim.Config{UserName: true, NoAnonymous: true}, tags)
	if err != nil {
		t.Fatal(err)
	}
	if err := open.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := activate(t, open.Endpoint(), gopcua.AuthUsername("anyone", "anything"), ua.UserTokenTypeUserName); err != nil {
		t.Errorf("user_name without users: %v", err)
	}
	if err := activate(t, open.Endpoint(), gopcua.AuthAnonymous(), ua.UserTokenTypeAnonymous); !errors.Is(err, ua.StatusBadIdentityTokenRejected) {
		t.Errorf("anonymous with no_anonymous: %v", err)
	}
}

// The server publishes Config.Limits in its OperationLimits properties
// and fails a call over a limit as a whole with BadTooManyOperations,
// while a call at the limit goes through.
func TestOperationLimitsPublishedAndEnforced(t *testing.T) {
	lim := uasim.Limits{MaxNodesPerRead: 5, MaxNodesPerWrite: 2, MaxNodesPerTranslateBrowsePaths: 3, MaxMonitoredItemsPerCall: 4}
	s, err := uasim.New(uasim.Config{Limits: lim, Security: []string{"None"}}, tags)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Each call over a limit ends gopcua's session, so each case has a
	// client of its own.
	dial := func(t *testing.T) *gopcua.Client {
		t.Helper()
		c, err := gopcua.NewClient(s.Endpoint(), gopcua.SecurityMode(ua.MessageSecurityModeNone), gopcua.AutoReconnect(false))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		return c
	}
	temp := ua.MustParseNodeID(s.NodeID("Line1.Temp"))

	props := []uint32{
		id.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
		id.Server_ServerCapabilities_OperationLimits_MaxNodesPerWrite,
		id.Server_ServerCapabilities_OperationLimits_MaxNodesPerTranslateBrowsePathsToNodeIDs,
		id.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
	}
	req := &ua.ReadRequest{}
	for _, p := range props {
		req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: ua.NewNumericNodeID(0, p), AttributeID: ua.AttributeIDValue})
	}
	resp, err := dial(t).Read(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []uint32{5, 2, 3, 4} {
		if got, _ := resp.Results[i].Value.Value().(uint32); got != want || resp.Results[i].Status != ua.StatusOK {
			t.Errorf("property %d = %v (%v), want %d", props[i], resp.Results[i].Value.Value(), resp.Results[i].Status, want)
		}
	}

	for _, tc := range []struct {
		name  string
		limit int
		call  func(c *gopcua.Client, n int) error
	}{
		{"read", 5, func(c *gopcua.Client, n int) error {
			req := &ua.ReadRequest{}
			for range n {
				req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: temp, AttributeID: ua.AttributeIDValue})
			}
			_, err := c.Read(ctx, req)
			return err
		}},
		{"write", 2, func(c *gopcua.Client, n int) error {
			req := &ua.WriteRequest{}
			for range n {
				req.NodesToWrite = append(req.NodesToWrite, &ua.WriteValue{
					NodeID: ua.MustParseNodeID(s.NodeID("Line1.Mode")), AttributeID: ua.AttributeIDValue,
					Value: &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(int16(1))},
				})
			}
			resp, err := c.Write(ctx, req)
			if err == nil && resp.Results[n-1] != ua.StatusOK {
				err = resp.Results[n-1]
			}
			return err
		}},
		{"translate browse paths", 3, func(c *gopcua.Client, n int) error {
			req := &ua.TranslateBrowsePathsToNodeIDsRequest{}
			for range n {
				req.BrowsePaths = append(req.BrowsePaths, &ua.BrowsePath{
					StartingNode: ua.NewNumericNodeID(0, id.ObjectsFolder),
					RelativePath: &ua.RelativePath{Elements: []*ua.RelativePathElement{{
						ReferenceTypeID: ua.NewNumericNodeID(0, id.HierarchicalReferences), IncludeSubtypes: true,
						TargetName: &ua.QualifiedName{NamespaceIndex: 2, Name: "Line1"},
					}}},
				})
			}
			return c.Send(ctx, req, func(ua.Response) error { return nil })
		}},
		{"create monitored items", 4, func(c *gopcua.Client, n int) error {
			sub, err := c.Subscribe(ctx, &gopcua.SubscriptionParameters{Interval: 50 * time.Millisecond}, make(chan *gopcua.PublishNotificationData, 16))
			if err != nil {
				return err
			}
			var items []*ua.MonitoredItemCreateRequest
			for i := range n {
				items = append(items, gopcua.NewMonitoredItemCreateRequestWithDefaults(temp, ua.AttributeIDValue, uint32(i+1)))
			}
			_, err = sub.Monitor(ctx, ua.TimestampsToReturnBoth, items...)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t)
			if err := tc.call(c, tc.limit); err != nil {
				t.Fatalf("%d operations, at the limit: %v", tc.limit, err)
			}
			if err := tc.call(c, tc.limit+1); !errors.Is(err, ua.StatusBadTooManyOperations) {
				t.Fatalf("%d operations, over the limit: %v, want BadTooManyOperations", tc.limit+1, err)
			}
		})
	}
}
