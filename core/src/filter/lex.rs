//! The lexer: filter text to tokens.
//!
//! Keywords are recognised case-insensitively; everything else is kept as
//! written. Lexical problems (an unterminated string, a stray `&`) are
//! recorded and lexing goes on, so one pass reports every one of them; the
//! token stream then carries a [`TokKind::Bad`] where the parser should not
//! add an "expected ..." of its own.

use super::ast::Span;
use super::error::{Problem, ProblemKind};

/// The keywords of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kw {
    And,
    Or,
    Not,
    Is,
    Eq,
    Ne,
    Matches,
    In,
    Has,
    HasRoles,
    All,
}

impl Kw {
    const ALL: [Kw; 11] = [
        Kw::And,
        Kw::Or,
        Kw::Not,
        Kw::Is,
        Kw::Eq,
        Kw::Ne,
        Kw::Matches,
        Kw::In,
        Kw::Has,
        Kw::HasRoles,
        Kw::All,
    ];

    /// The canonical spelling, used by messages and the printer.
    pub(crate) const fn text(self) -> &'static str {
        match self {
            Kw::And => "and",
            Kw::Or => "or",
            Kw::Not => "not",
            Kw::Is => "is",
            Kw::Eq => "eq",
            Kw::Ne => "ne",
            Kw::Matches => "matches",
            Kw::In => "in",
            Kw::Has => "has",
            Kw::HasRoles => "hasRoles",
            Kw::All => "all",
        }
    }

    fn from_word(word: &str) -> Option<Kw> {
        Self::ALL.into_iter().find(|k| k.text().eq_ignore_ascii_case(word))
    }
}

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokKind {
    Kw(Kw),
    /// A user key; its text is the span's.
    Name,
    /// `$` and a name; its text (with `$`) is the span's.
    Dollar,
    /// A quoted string, unescaped.
    Str(Box<str>),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    /// Text the lexer already reported.
    Bad,
    /// The end of the text (an empty span there).
    Eof,
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokKind,
    pub(crate) span: Span,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Splits `text` into tokens ending with one [`TokKind::Eof`], recording
/// lexical problems in `problems`. `text` is at most 64 KiB (checked by the
/// caller), so offsets fit in `u32`.
pub(crate) fn lex(text: &str, problems: &mut Vec<Problem>) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    let span = |a: usize, b: usize| Span::new(a as u32, b as u32);
    while let Some((start, c)) = chars.next() {
        let (kind, end) = match c {
            c if c.is_whitespace() => continue,
            '(' => (TokKind::LParen, start + 1),
            ')' => (TokKind::RParen, start + 1),
            '[' => (TokKind::LBracket, start + 1),
            ']' => (TokKind::RBracket, start + 1),
            ',' => (TokKind::Comma, start + 1),
            '\'' | '"' => {
                let (value, end) = lex_string(text, start, c, &mut chars, problems);
                (TokKind::Str(value), end)
            }
            '$' => {
                let end = eat_name_chars(&mut chars, start + 1);
                if end == start + 1 {
                    problems.push(Problem::new(ProblemKind::EmptyFixedKey, span(start, end)));
                    (TokKind::Bad, end)
                } else {
                    (TokKind::Dollar, end)
                }
            }
            c if is_name_char(c) => {
                let end = eat_name_chars(&mut chars, start + 1);
                let word = &text[start..end];
                if !is_name_start(c) {
                    problems.push(Problem::new(ProblemKind::BadWord(word.to_owned()), span(start, end)));
                    (TokKind::Bad, end)
                } else if let Some(kw) = Kw::from_word(word) {
                    (TokKind::Kw(kw), end)
                } else {
                    (TokKind::Name, end)
                }
            }
            c => {
                let end = start + c.len_utf8();
                problems.push(Problem::new(ProblemKind::UnexpectedChar(c), span(start, end)));
                (TokKind::Bad, end)
            }
        };
        tokens.push(Token { kind, span: span(start, end) });
    }
    tokens.push(Token { kind: TokKind::Eof, span: span(text.len(), text.len()) });
    tokens
}

/// Consumes name characters (all ASCII, one byte each) and returns the end
/// of the run; `end` is where the run so far ends.
fn eat_name_chars(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, mut end: usize) -> usize {
    while chars.next_if(|(_, c)| is_name_char(*c)).is_some() {
        end += 1;
    }
    end
}

/// Reads a string whose opening `quote` is at `start`; returns its value and
/// the end of its closing quote (or of the text, when unterminated).
fn lex_string(
    text: &str,
    start: usize,
    quote: char,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    problems: &mut Vec<Problem>,
) -> (Box<str>, usize) {
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return (value.into_boxed_str(), i + 1),
            '\\' => match chars.next() {
                Some((_, e @ ('\'' | '"' | '\\'))) => value.push(e),
                Some((j, e)) => {
                    // Keep both characters so the value stays close to what
                    // was meant; the filter is refused anyway.
                    problems.push(Problem::new(
                        ProblemKind::BadEscape(e),
                        Span::new(i as u32, (j + e.len_utf8()) as u32),
                    ));
                    value.push('\\');
                    value.push(e);
                }
                None => break,
            },
            c => value.push(c),
        }
    }
    problems.push(Problem::new(ProblemKind::UnterminatedString, Span::new(start as u32, text.len() as u32)));
    (value.into_boxed_str(), text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> (Vec<TokKind>, Vec<ProblemKind>) {
        let mut problems = Vec::new();
        let toks = lex(text, &mut problems);
        (toks.into_iter().map(|t| t.kind).collect(), problems.into_iter().map(|p| p.kind).collect())
    }

    #[test]
    fn words_keywords_and_strings() {
        let (toks, problems) = kinds(r#"HASroles Tier.x-1 $Principal 'a\'b' "c\"\\d" ( ) [ , ]"#);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            toks,
            vec![
                TokKind::Kw(Kw::HasRoles),
                TokKind::Name,
                TokKind::Dollar,
                TokKind::Str("a'b".into()),
                TokKind::Str("c\"\\d".into()),
                TokKind::LParen,
                TokKind::RParen,
                TokKind::LBracket,
                TokKind::Comma,
                TokKind::RBracket,
                TokKind::Eof,
            ]
        );
    }

    #[test]
    fn spans_cover_tokens() {
        let mut problems = Vec::new();
        let toks = lex("ab  'é'", &mut problems);
        assert_eq!(toks[0].span, Span::new(0, 2));
        assert_eq!(toks[1].span, Span::new(4, 8));
        assert_eq!(toks[2].span, Span::new(8, 8));
    }

    #[test]
    fn lexical_problems_are_collected() {
        let (toks, problems) = kinds("a & 9b $ 'x\\n' 'open");
        assert_eq!(
            problems,
            vec![
                ProblemKind::UnexpectedChar('&'),
                ProblemKind::BadWord("9b".into()),
                ProblemKind::EmptyFixedKey,
                ProblemKind::BadEscape('n'),
                ProblemKind::UnterminatedString,
            ]
        );
        assert_eq!(toks.iter().filter(|t| **t == TokKind::Bad).count(), 3);
    }
}
