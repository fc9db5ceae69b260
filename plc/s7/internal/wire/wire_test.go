package wire

import (
	"bytes"
	"testing"
)

func TestReadRoundTrip(t *testing.T) {
	items := []Item{
		{TS: TSByte, Count: 3, DB: 5, Area: AreaDB, Start: 100},
		{TS: TSBit, Count: 1, Area: AreaM, Start: 2, Bit: 6},
	}
	req := ReadRequest(0x1234, items)
	if len(req) != ReadRequestSize(2) {
		t.Fatalf("request of %d bytes, size says %d", len(req), ReadRequestSize(2))
	}
	j, err := ParseJob(req)
	if err != nil {
		t.Fatal(err)
	}
	if j.Ref != 0x1234 || j.Func != FuncRead || len(j.Items) != 2 || j.Items[0] != items[0] || j.Items[1] != items[1] {
		t.Errorf("parsed %+v", j)
	}
	data := []byte{RCSuccess, DataByte, 0, 24, 1, 2, 3, 0, RCSuccess, DataBit, 0, 1, 1}
	resp := AckData(0x1234, 0, 0, []byte{FuncRead, 2}, data)
	ref, got, err := ParseReadResponse(resp, 2)
	if err != nil || ref != 0x1234 || !bytes.Equal(got[0].Data, []byte{1, 2, 3}) || !bytes.Equal(got[1].Data, []byte{1}) {
		t.Errorf("ParseReadResponse: %d %+v %v", ref, got, err)
	}
	if _, _, err := ParseReadResponse(AckData(1, 0x85, 0, []byte{FuncRead, 0}, nil), 2); err == nil {
		t.Error("header error not reported")
	}
}

func TestWriteRoundTrip(t *testing.T) {
	items := []Item{{TS: TSByte, Count: 3, DB: 1, Area: AreaDB}, {TS: TSBit, Count: 1, Area: AreaQ, Bit: 1}}
	data := [][]byte{{9, 8, 7}, {1}}
	req := WriteRequest(3, items, data)
	if len(req) > WriteRequestSize(3, 1) {
		t.Fatalf("request of %d bytes, size says %d", len(req), WriteRequestSize(3, 1))
	}
	j, err := ParseJob(req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(j.Data[0], data[0]) || !bytes.Equal(j.Data[1], data[1]) || j.DataTS[1] != DataBit {
		t.Errorf("parsed data %v %v", j.Data, j.DataTS)
	}
	_, codes, err := ParseWriteResponse(AckData(3, 0, 0, []byte{FuncWrite, 2}, []byte{RCSuccess, RCAccessDenied}), 2)
	if err != nil || codes[1] != RCAccessDenied {
		t.Errorf("codes %v, %v", codes, err)
	}
}

func TestConnectAndSetup(t *testing.T) {
	cr := ConnectRequest(0x1002, 0x0301)
	code, _, data, err := TPDU(cr)
	if err != nil || code != COTPConnRequest || len(data) != 0 {
		t.Fatalf("TPDU(connect request) = 0x%02x % x %v", code, data, err)
	}
	if cr[16] != 0x10 || cr[17] != 0x02 || cr[20] != 0x03 || cr[21] != 0x01 {
		t.Errorf("TSAPs in % x", cr)
	}
	code, flags, data, err := TPDU(Frame(SetupRequest(7, 960, 3)))
	if err != nil || code != COTPData || flags&COTPEOT == 0 {
		t.Fatalf("TPDU(setup) = 0x%02x 0x%02x %v", code, flags, err)
	}
	j, err := ParseJob(data)
	if err != nil || j.Func != FuncSetup || j.PDU != 960 || j.Jobs != 3 || j.Ref != 7 {
		t.Fatalf("ParseJob(setup) = %+v %v", j, err)
	}
	ref, size, jobs, err := ParseSetupResponse(AckData(7, 0, 0, SetupParam(480, 3), nil))
	if err != nil || ref != 7 || size != 480 || jobs != 3 {
		t.Errorf("ParseSetupResponse = %d %d %d %v", ref, size, jobs, err)
	}
	if _, _, _, err := ParseSetupResponse(AckData(7, 0x81, 4, nil, nil)); err == nil {
		t.Error("refused setup accepted")
	}
	if _, _, _, err := TPDU([]byte{3, 0, 0, 9, 4, 0xF0, 0x80}); err == nil {
		t.Error("frame with a wrong TPKT length accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(ReadRequest(1, []Item{{TS: TSByte, Count: 2, DB: 1, Area: AreaDB}}))
	f.Add(WriteRequest(1, []Item{{TS: TSBit, Count: 1, Area: AreaM}}, [][]byte{{1}}))
	f.Add(AckData(1, 0, 0, []byte{FuncRead, 1}, []byte{RCSuccess, DataByte, 0, 16, 1, 2}))
	f.Add(AckData(1, 0, 0, []byte{FuncWrite, 1}, []byte{RCSuccess}))
	f.Add(Frame(SetupRequest(1, 480, 1)))
	f.Add(ConnectRequest(0x0100, 0x0101))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, data, err := TPDU(b); err == nil && len(data) > len(b) {
			t.Fatalf("TPDU data of %d bytes from %d", len(data), len(b))
		}
		if _, size, jobs, err := ParseSetupResponse(b); err == nil && (size > 0xFFFF || jobs < 1) {
			t.Fatalf("PDU size %d", size)
		}
		if j, err := ParseJob(b); err == nil {
			for i, it := range j.Items {
				if it.Bit > 7 || it.Start > MaxAddress || (j.Func == FuncWrite && j.Data[i] == nil) {
					t.Fatalf("parsed nonsense %+v", j)
				}
			}
		}
		for n := range 3 {
			if _, items, err := ParseReadResponse(b, n); err == nil && len(items) != n {
				t.Fatalf("%d items for %d", len(items), n)
			}
			if _, codes, err := ParseWriteResponse(b, n); err == nil && len(codes) != n {
				t.Fatalf("%d codes for %d", len(codes), n)
			}
		}
	})
}
