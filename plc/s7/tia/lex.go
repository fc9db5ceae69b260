package tia

import (
	"strings"
)

// tokKind is the kind of a token of a DB source.
type tokKind uint8

const (
	tokEOF    tokKind = iota
	tokIdent          // Running, Bool, STRUCT
	tokQuoted         // "Motor data"
	tokNumber         // 10, 0.1, 16#FF, -5
	tokString         // 'text'
	tokSym            // : ; [ ] , .. := { } ( ) = and anything else
)

type token struct {
	kind tokKind
	text string
	line int
}

// lexer splits a DB source into tokens and keeps the // and (* *) comments
// by line, for the variables' descriptions.
type lexer struct {
	src      string
	pos      int
	line     int
	comments map[int]string
	// err is the first problem: an unterminated string, name or comment.
	err     string
	errLine int
}

func newLexer(src string) *lexer {
	return &lexer{src: src, line: 1, comments: map[int]string{}}
}

func (l *lexer) fail(line int, msg string) {
	if l.err == "" {
		l.err, l.errLine = msg, line
	}
}

func (l *lexer) next() token {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\n':
			l.line++
			l.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			l.pos++
		case strings.HasPrefix(l.src[l.pos:], "//"):
			end := strings.IndexByte(l.src[l.pos:], '\n')
			if end < 0 {
				end = len(l.src) - l.pos
			}
			l.comment(l.line, l.src[l.pos+2:l.pos+end])
			l.pos += end
		case strings.HasPrefix(l.src[l.pos:], "(*"):
			start := l.line
			end := strings.Index(l.src[l.pos+2:], "*)")
			if end < 0 {
				l.fail(start, "comment (* not closed")
				l.pos = len(l.src)
				return token{kind: tokEOF, line: l.line}
			}
			body := l.src[l.pos+2 : l.pos+2+end]
			l.comment(start, body)
			l.line += strings.Count(body, "\n")
			l.pos += end + 4
		default:
			return l.token()
		}
	}
	return token{kind: tokEOF, line: l.line}
}

func (l *lexer) comment(line int, text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	if prev := l.comments[line]; prev != "" {
		text = prev + " " + text
	}
	l.comments[line] = text
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func (l *lexer) token() token {
	start, line := l.pos, l.line
	c := l.src[l.pos]
	switch {
	case c == '"' || c == '\'':
		end := strings.IndexByte(l.src[l.pos+1:], c)
		nl := strings.IndexByte(l.src[l.pos+1:], '\n')
		if end < 0 || (nl >= 0 && nl < end) {
			what := "name"
			if c == '\'' {
				what = "string"
			}
			l.fail(line, what+" not closed on its line")
			l.pos = len(l.src)
			return token{kind: tokEOF, line: line}
		}
		l.pos += end + 2
		kind := tokQuoted
		if c == '\'' {
			kind = tokString
		}
		return token{kind: kind, text: l.src[start+1 : l.pos-1], line: line}
	case c >= '0' && c <= '9' || (c == '-' || c == '+') && l.pos+1 < len(l.src) && l.src[l.pos+1] >= '0' && l.src[l.pos+1] <= '9':
		l.pos++
		for l.pos < len(l.src) {
			d := l.src[l.pos]
			// A number ends at ".." (an array range), not at a decimal point.
			if d == '.' && !strings.HasPrefix(l.src[l.pos:], "..") || d == '#' || isIdentByte(d) {
				l.pos++
				continue
			}
			break
		}
		return token{kind: tokNumber, text: l.src[start:l.pos], line: line}
	case isIdentByte(c) || c == '#':
		l.pos++
		for l.pos < len(l.src) && isIdentByte(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tokIdent, text: l.src[start:l.pos], line: line}
	}
	for _, s := range []string{"..", ":="} {
		if strings.HasPrefix(l.src[l.pos:], s) {
			l.pos += len(s)
			return token{kind: tokSym, text: s, line: line}
		}
	}
	l.pos++
	return token{kind: tokSym, text: l.src[start:l.pos], line: line}
}
