package opcua

import (
	"errors"
	"reflect"
	"unsafe"
)

// PausePublishLoop queues a pause for the publish loop of c's current
// gopcua client, as gopcua does itself when a Publish fails, so tests can
// put the loop in the state of gopcua#895.
func PausePublishLoop(c *Client) error {
	cn, err := c.current()
	if err != nil {
		return err
	}
	f := reflect.ValueOf(cn.uc).Elem().FieldByName("pausech")
	if !f.IsValid() || f.Type() != reflect.TypeFor[chan struct{}]() {
		return errors.New("gopcua client has no pausech")
	}
	*(*chan struct{})(unsafe.Pointer(f.UnsafeAddr())) <- struct{}{}
	return nil
}
