//! The filter language's tokens, read on demand from the input, so the first error reported
//! is the leftmost one.

use super::syntax::{FilterError, Op, is_word_continue, is_word_start};

pub(super) const OR_NOT_SUPPORTED: &str = "OR is not supported; combine conditions with AND";

#[derive(Debug, Clone, PartialEq)]
pub(super) enum TokenKind {
    /// A bare word: a keyword, or a field whose key needs no quotes.
    Word,
    /// `prefix.` directly followed by a backquoted or double-quoted key.
    QuotedField {
        prefix: String,
        key: String,
    },
    Number(f64),
    Text(String),
    Compare(Op),
    OpenParen,
    CloseParen,
    Comma,
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub(super) kind: TokenKind,
    /// 0-based character offset of the token's first character.
    pub(super) start: usize,
    /// The source text of the token, or "end of input".
    pub(super) text: String,
}

impl Token {
    pub(super) fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError {
            position: self.start + 1,
            token: self.text.clone(),
            message: message.into(),
        }
    }

    pub(super) fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.kind, TokenKind::Word) && self.text.eq_ignore_ascii_case(keyword)
    }
}

/// How many tokens of a kind the rest of the input holds, for errors about limits.
pub(super) struct Tally {
    pub(super) count: usize,
    /// False when a malformed token stopped the count, so there may be more.
    pub(super) complete: bool,
}

impl Tally {
    /// `base` plus the tally, as an error message states it.
    pub(super) fn plus(&self, base: usize) -> String {
        let total = base + self.count;
        if self.complete {
            total.to_string()
        } else {
            format!("at least {total}")
        }
    }
}

/// Splits input into tokens on demand, so the first error reported is the leftmost one.
pub(super) struct Lexer {
    pub(super) chars: Vec<char>,
    pub(super) pos: usize,
}

impl Lexer {
    pub(super) fn new(input: &str) -> Lexer {
        Lexer {
            chars: input.chars().collect(),
            pos: 0,
        }
    }

    pub(super) fn char_at(&self, index: usize) -> Option<char> {
        self.chars.get(index).copied()
    }

    pub(super) fn text(&self, start: usize, end: usize) -> String {
        self.chars
            .get(start..end)
            .map(|chars| chars.iter().collect())
            .unwrap_or_default()
    }

    pub(super) fn token(&self, kind: TokenKind, start: usize) -> Token {
        Token {
            kind,
            start,
            text: self.text(start, self.pos),
        }
    }

    pub(super) fn error(&self, start: usize, end: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            position: start + 1,
            token: self.text(start, end),
            message: message.into(),
        }
    }

    pub(super) fn next_token(&mut self) -> Result<Token, FilterError> {
        while self.char_at(self.pos).is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(c) = self.char_at(start) else {
            return Ok(Token {
                kind: TokenKind::End,
                start,
                text: "end of input".to_string(),
            });
        };
        let next = self.char_at(start + 1);
        let (kind, width) = match c {
            '\'' | '"' => {
                return match self.read_quoted(c) {
                    Some(text) => Ok(self.token(TokenKind::Text(text), start)),
                    None => Err(self.error(
                        start,
                        self.pos,
                        format!("unterminated string: missing closing {c}"),
                    )),
                };
            }
            '(' => (TokenKind::OpenParen, 1),
            ')' => (TokenKind::CloseParen, 1),
            ',' => (TokenKind::Comma, 1),
            '=' if next == Some('=') => {
                return Err(self.error(
                    start,
                    start + 2,
                    "'==' is not an operator; use '=' to test equality",
                ));
            }
            '=' => (TokenKind::Compare(Op::Eq), 1),
            '!' if next == Some('=') => (TokenKind::Compare(Op::Ne), 2),
            '!' => {
                return Err(self.error(start, start + 1, "unexpected '!'; the not-equal operator is '!='"));
            }
            '>' if next == Some('=') => (TokenKind::Compare(Op::Ge), 2),
            '>' => (TokenKind::Compare(Op::Gt), 1),
            '<' if next == Some('=') => (TokenKind::Compare(Op::Le), 2),
            '<' if next == Some('>') => {
                return Err(self.error(start, start + 2, "'<>' is not an operator; use '!='"));
            }
            '<' => (TokenKind::Compare(Op::Lt), 1),
            '&' => return Err(self.error(start, start + 1, "unexpected '&'; combine conditions with AND")),
            '|' => return Err(self.error(start, start + 1, OR_NOT_SUPPORTED)),
            '`' => {
                return Err(self.error(
                    start,
                    start + 1,
                    "a backquoted key must directly follow its prefix, as in metrics.`my key`",
                ));
            }
            c if is_word_start(c) => return self.word(start),
            c if c.is_ascii_digit() || matches!(c, '.' | '+' | '-') => return self.number(start),
            c => return Err(self.error(start, start + 1, format!("unexpected character '{c}'"))),
        };
        self.pos += width;
        Ok(self.token(kind, start))
    }

    /// Reads a `quote`-delimited string starting at `self.pos`, where a doubled quote stands for
    /// one quote. `None` if the input ends first.
    pub(super) fn read_quoted(&mut self, quote: char) -> Option<String> {
        self.pos += 1;
        let mut content = String::new();
        while let Some(c) = self.char_at(self.pos) {
            self.pos += 1;
            if c != quote {
                content.push(c);
            } else if self.char_at(self.pos) == Some(quote) {
                content.push(quote);
                self.pos += 1;
            } else {
                return Some(content);
            }
        }
        None
    }

    pub(super) fn word(&mut self, start: usize) -> Result<Token, FilterError> {
        while self.char_at(self.pos).is_some_and(is_word_continue) {
            self.pos += 1;
        }
        let word = self.text(start, self.pos);
        if let Some(quote @ ('`' | '"')) = self.char_at(self.pos)
            && let Some(prefix) = word.strip_suffix('.')
            && !prefix.contains('.')
        {
            let prefix = prefix.to_string();
            return match self.read_quoted(quote) {
                Some(key) => Ok(self.token(TokenKind::QuotedField { prefix, key }, start)),
                None => Err(self.error(
                    start,
                    self.pos,
                    format!("unterminated key: missing closing {quote}"),
                )),
            };
        }
        Ok(self.token(TokenKind::Word, start))
    }

    /// Reads `[+-] digits [. digits] [e [+-] digits]`; a number running into a word is an error.
    pub(super) fn number(&mut self, start: usize) -> Result<Token, FilterError> {
        if matches!(self.char_at(self.pos), Some('+' | '-')) {
            self.pos += 1;
        }
        let mut digits = self.skip_digits();
        if self.char_at(self.pos) == Some('.') {
            self.pos += 1;
            digits += self.skip_digits();
        }
        if digits == 0 {
            let text = self.text(start, start + 1);
            return Err(self.error(start, start + 1, format!("unexpected character '{text}'")));
        }
        if matches!(self.char_at(self.pos), Some('e' | 'E')) {
            let sign = usize::from(matches!(self.char_at(self.pos + 1), Some('+' | '-')));
            if self
                .char_at(self.pos + 1 + sign)
                .is_some_and(|c| c.is_ascii_digit())
            {
                self.pos += 1 + sign;
                self.skip_digits();
            }
        }
        if self.char_at(self.pos).is_some_and(is_word_continue) {
            while self.char_at(self.pos).is_some_and(is_word_continue) {
                self.pos += 1;
            }
            return Err(self.error(start, self.pos, "invalid number"));
        }
        match self.text(start, self.pos).parse::<f64>() {
            Ok(number) if number.is_finite() => Ok(self.token(TokenKind::Number(number), start)),
            Ok(_) => Err(self.error(start, self.pos, "number is out of range")),
            Err(_) => Err(self.error(start, self.pos, "invalid number")),
        }
    }

    /// Reads on to the end of the input, or to the first token `stop` accepts, counting the
    /// tokens `counted` accepts; keeps none of them, so a huge remainder costs no memory.
    pub(super) fn count_rest(
        &mut self,
        counted: impl Fn(&Token) -> bool,
        stop: impl Fn(&Token) -> bool,
    ) -> Tally {
        let mut count = 0;
        loop {
            match self.next_token() {
                Ok(token) if matches!(token.kind, TokenKind::End) || stop(&token) => {
                    return Tally {
                        count,
                        complete: true,
                    };
                }
                Ok(token) => count += usize::from(counted(&token)),
                Err(_) => {
                    return Tally {
                        count,
                        complete: false,
                    };
                }
            }
        }
    }

    pub(super) fn skip_digits(&mut self) -> usize {
        let from = self.pos;
        while self.char_at(self.pos).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - from
    }
}
