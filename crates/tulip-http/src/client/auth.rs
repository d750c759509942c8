//! HTTP Basic authentication (aiohttp's `BasicAuth`, RFC 7617): the credentials, their
//! `Authorization` header, and the credentials of a URL's userinfo.

use std::fmt;

use http::HeaderValue;

use crate::error::{Error, Kind};

/// A login and password for HTTP Basic authentication (aiohttp's `BasicAuth`).
///
/// Give it per client ([`ClientBuilder::auth`](crate::ClientBuilder::auth)) or per request
/// ([`RequestBuilder::auth`](crate::RequestBuilder::auth)), or write it into the URL
/// (`http://user:pass@host/`, percent-encoded); either way it becomes an `Authorization`
/// header, which the client drops when a redirect leaves the origin.
///
/// # Examples
///
/// ```
/// use tulip_http::BasicAuth;
///
/// let auth = BasicAuth::new("Aladdin", "open sesame");
/// assert_eq!(auth.encode(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
/// assert_eq!(BasicAuth::decode("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap(), auth);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    login: String,
    password: String,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Passwords end up in logs through Debug; this one does not.
        f.debug_struct("BasicAuth")
            .field("login", &self.login)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl BasicAuth {
    /// Credentials to send. A login may not contain `:` (RFC 7617 has no way to carry one);
    /// [`RequestBuilder::send`](crate::RequestBuilder::send) fails with
    /// [`Error::is_user`] if it does.
    pub fn new(login: impl Into<String>, password: impl Into<String>) -> BasicAuth {
        BasicAuth {
            login: login.into(),
            password: password.into(),
        }
    }

    /// The login.
    pub fn login(&self) -> &str {
        &self.login
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The `Authorization` header value: `Basic base64(login:password)`, UTF-8.
    pub fn encode(&self) -> String {
        let raw = format!("{}:{}", self.login, self.password);
        format!("Basic {}", base64_encode(raw.as_bytes()))
    }

    /// Reads an `Authorization: Basic ...` value (a server checking credentials).
    ///
    /// # Errors
    ///
    /// [`Error::is_decode`] when the scheme is not Basic, the base64 is invalid, or the
    /// decoded text is not UTF-8 or has no `:`.
    pub fn decode(header: &str) -> Result<BasicAuth, Error> {
        let bad = |what| Error::new(Kind::Decode, what);
        let (scheme, rest) = header
            .trim()
            .split_once(' ')
            .ok_or_else(|| bad("Authorization has no credentials"))?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(bad("Authorization is not Basic"));
        }
        let raw = base64_decode(rest.trim()).ok_or_else(|| bad("invalid base64 in Basic auth"))?;
        let text =
            String::from_utf8(raw).map_err(|e| bad("Basic auth is not UTF-8").with_cause(e))?;
        let (login, password) = text
            .split_once(':')
            .ok_or_else(|| bad("Basic auth has no ':'"))?;
        Ok(BasicAuth::new(login, password))
    }

    /// The header value, or a user error for a login with `:` or bytes a header cannot carry.
    pub(crate) fn header_value(&self) -> Result<HeaderValue, Error> {
        if self.login.contains(':') {
            return Err(Error::new(
                Kind::User,
                "a Basic auth login may not contain ':'",
            ));
        }
        let mut v = HeaderValue::try_from(self.encode())
            .map_err(|e| Error::new(Kind::User, "invalid Basic auth").with_cause(e))?;
        v.set_sensitive(true);
        Ok(v)
    }

    /// The credentials of a URL's userinfo (`user:pass@`), percent-decoded.
    pub(crate) fn from_userinfo(userinfo: &str) -> BasicAuth {
        let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        BasicAuth::new(decode(user), decode(pass))
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4), the only encoding Basic auth uses.
fn base64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let bytes = input.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (ci, chunk) in bytes.chunks(4).enumerate() {
        let last = ci == bytes.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &b in &chunk[..4 - pad] {
            let v = ALPHABET.iter().position(|&a| a == b)? as u32;
            n = n << 6 | v;
        }
        n <<= 6 * pad as u32;
        let got = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&got[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors_of_rfc_4648() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(raw.as_bytes()), enc);
            assert_eq!(base64_decode(enc).unwrap(), raw.as_bytes());
        }
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9*"] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn userinfo_and_headers() {
        let a = BasicAuth::from_userinfo("us%40er:p%3Ass");
        assert_eq!((a.login(), a.password()), ("us@er", "p:ss"));
        assert_eq!(BasicAuth::from_userinfo("alone").password(), "");
        assert!(
            BasicAuth::new("a:b", "c")
                .header_value()
                .unwrap_err()
                .is_user()
        );
        let v = BasicAuth::new("user", "pässword").header_value().unwrap();
        assert!(v.is_sensitive());
        let back = BasicAuth::decode(v.to_str().unwrap()).unwrap();
        assert_eq!(back.password(), "pässword");
        assert!(BasicAuth::decode("Bearer xyz").unwrap_err().is_decode());
        assert!(!format!("{back:?}").contains("pässword"));
    }
}
