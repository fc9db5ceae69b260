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

func FuzzParse(f *testing.F) {
	f.Add(ReadRequest(1, []Item{{TS: TSByte, Count: 2, DB: 1, Area: AreaDB}}))
	f.Add(WriteRequest(1, []Item{{TS: TSBit, Count: 1, Area: AreaM}}, [][]byte{{1}}))
	f.Add(AckData(1, 0, 0, []byte{FuncRead, 1}, []byte{RCSuccess, DataByte, 0, 16, 1, 2}))
	f.Add(AckData(1, 0, 0, []byte{FuncWrite, 1}, []byte{RCSuccess}))
	f.Fuzz(func(t *testing.T, b []byte) {
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
