package opcua

import "errors"

// PausePublishLoop queues a pause for the publish loop of c's current
// gopcua client, as gopcua does itself when a Publish fails, so tests can
// put the loop in the state of gopcua#895.
func PausePublishLoop(c *Client) error {
	cn, err := c.current()
	if err != nil {
		return err
	}
	ch := loopChannel(cn.uc, "pausech")
	if ch == nil {
		return errors.New("gopcua client has no pausech")
	}
	ch <- struct{}{}
	return nil
}
