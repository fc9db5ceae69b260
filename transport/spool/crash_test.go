package spool

func crashChild() bool { return false }
