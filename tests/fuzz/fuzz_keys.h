// Fixed key material shared by the fuzz targets, their replay tests and the seed generator.
// Generated once with `jwtgate keygen` (public halves with `openssl pkey -pubout`); fixed so
// that a corpus entry means the same thing in every run. Test keys only: never trust them.
#ifndef JWTGATE_TESTS_FUZZ_FUZZ_KEYS_H_
#define JWTGATE_TESTS_FUZZ_FUZZ_KEYS_H_

#include <string_view>

namespace jwtgate::fuzz {

// Trusted set: HS256 "hs-1", RS256 "rs-1", ES256 "es-1", EdDSA "ed-1" and a second EdDSA key
// without kid (so that an EdDSA token without kid has two candidates: kKidRequired).
inline constexpr std::string_view kJwks =
    R"json({"keys":[{"kty":"oct","k":"_mPE9iC1P8IZ5d_rqB808t30-HqfRmV4TJztgQpgW60","alg":"HS256","use":"sig","kid":"hs-1"},{"kty":"RSA","n":"2wzXYC_X9YDosCh5ppMlugjGWP0UeR05aLhTOa7GAMdsUuNNDA13bWSxUzuTMV3u__WVhMFmh4gclyZWcjqNOoY2Qf0aknRFaIlg_hBP7uSmKegRdQg6cP1m62x8WDCQz4lFw41JdrNPUMALGlCa2S1ns60KYT8jD9L2bIAlNg1xNGxG7qdyDAZTVyTQPSqlpdEzYHd4P95MS-eUd6gv6OZiFzcVF2i5sz74gWsQXxDujSAfULDWpXZfGBpRrkGoluIVwNPFTLBKDyr02A1w7xJWjZup9Duj9MkmUTQaGeU4tZAj1BuWlO41-Ii5m03M3XUXzO_7eHRe1npwUDbEuw","e":"AQAB","alg":"RS256","use":"sig","kid":"rs-1"},{"kty":"EC","crv":"P-256","x":"NOyEQFJrwz6puJiawq7yHsVX7konAcJQr28JZbW3sQg","y":"TZQ4hjsYPG-LxjdNo-nAgqjJnm-Y595UylU8JKO_vOE","alg":"ES256","use":"sig","kid":"es-1"},{"kty":"OKP","crv":"Ed25519","x":"s2CNP2gci3VCdbTjBd9ubwFSDFPF__c82kn5uPjY-3I","alg":"EdDSA","use":"sig","kid":"ed-1"},{"kty":"OKP","crv":"Ed25519","x":"_Hm5v7RZNZyjBmZlBqhjcsmQI23f_2jbmrRp-MKK2Pc","alg":"EdDSA","use":"sig"}]})json";

// The HS256 secret of "hs-1" (the `k` of its JWK, decoded).
inline constexpr unsigned char kHs256Secret[32] = {
    0xfe, 0x63, 0xc4, 0xf6, 0x20, 0xb5, 0x3f, 0xc2, 0x19, 0xe5, 0xdf, 0xeb, 0xa8, 0x1f, 0x34, 0xf2,
    0xdd, 0xf4, 0xf8, 0x7a, 0x9f, 0x46, 0x65, 0x78, 0x4c, 0x9c, 0xed, 0x81, 0x0a, 0x60, 0x5b, 0xad};

// Private keys (PKCS#8 PEM), for signing seeds and for the re-signing target.
inline constexpr std::string_view kRs256PrivatePem = R"pem(-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDbDNdgL9f1gOiw
KHmmkyW6CMZY/RR5HTlouFM5rsYAx2xS400MDXdtZLFTO5MxXe7/9ZWEwWaHiByX
JlZyOo06hjZB/RqSdEVoiWD+EE/u5KYp6BF1CDpw/WbrbHxYMJDPiUXDjUl2s09Q
wAsaUJrZLWezrQphPyMP0vZsgCU2DXE0bEbup3IMBlNXJNA9KqWl0TNgd3g/3kxL
55R3qC/o5mIXNxUXaLmzPviBaxBfEO6NIB9QsNaldl8YGlGuQaiW4hXA08VMsEoP
KvTYDXDvElaNm6n0O6P0ySZRNBoZ5Ti1kCPUG5aU7jX4iLmbTczddRfM7/t4dF7W
enBQNsS7AgMBAAECggEAJE7NFjmSlglaHZ91MTSRBh8f4q5+6bz71Tfpkj/ovEan
KwKtCdM47pjIQaUNdpsncHqq4AMp36DNKF/nkph87JdEFWJYDgVtXxtCSJUN7WmD
LKK1iLdRRIWOvR/8E6a9IgE9XzajLM8iKvQiAv3FpOYp8GC9aIq4C46VX5JKrgTJ
gjow6XrVJ6Jgpy+e4cNCIf4rM9WJFWX/LbQuAe9lpVDdbqj4Vtq4TxnCD6cQj0DR
9hMfCyt3nQZoPsTZs1QwYqSRZ2NvaJPrzfth2qVcHOM/TIY24nPHrGUALlCvYhoW
YJExEADiw5hBMUD2qGqx9lKJPpfU4LRQFUaNLLvlSQKBgQDzUJ5KwWwTwCElTktV
evDHb0E0DRDru5hJHZCfDAVhihkmZ5sL5dyTEUL/3GVMni+mx7XfIcBnmfrckyXC
Gi4GiC3tmKvdluxiqlmcomSCoktX1ix9fpLVeqzK9qr2Bl+TAUZHGv1fZIZl1xU6
QdgW5OQuHkopX2IeH45eaBasMwKBgQDmeGAiSqgqDtZch6uvIV5zI+cFMJtUBnMU
7APMiJwCWmwG4Wh03ZgQW9MueQtWS3lbwBBAQ03tdM0USVBZeyNSxog6RdJ5H5ta
O3EzXdL4s+Frp5LaChPz+qeTIdx3vR+p0B97g6CDTkOSlhgiwlWpwVR2glxCHPCI
tFimeMB9WQKBgQC7X3kW7o8xQoMD/KBNCqkDnGylDe7a6pNisu7dXF+EdtnZVm3z
IqfTZban3OzxrNvbXu5zD8XgwpaKaJLqQEjzZMmhsDGiKoiNjswFsJUgeKT21ota
dS/UUG1iu8R6Q/wz9AZP2bwHSx2orZK+U1h6gPgrf83ywG6J7hkwII5dOwKBgQDB
s0BQ8eA+YPQHFrvT2D7SlMUwlnal+zmzxt02hUZhr++FJOOu/SM19IccUv2VTJ+1
3kmKSUbwoS9PsoKGgjjg9B1ApLhNtqPSBY2Rt3R+NGjsGw4QlVHJx8wZm+b4+Anp
phMfszQvx5KBXAbzB9QJdYRwigXSRxJeQv0TBP/7GQKBgElfWP6bb1VxqStFbcAi
mCGdMfRD1ts2Pp9v7a82/TvJEY0E4SggNREQ2XASK4Ltiud/prVvxsbSqpnp4vUA
6xoo0Q98iVa1aTTaBq5T8tVoFsUoMK0f/qJQbzXGcT1qdPwxmRW7XAJVX1SqjV51
ZCPwTK8oGWdqdD0+Wu7m4b5V
-----END PRIVATE KEY-----
)pem";
inline constexpr std::string_view kEs256PrivatePem = R"pem(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgOtabzuD2wN+A5pET
klNTuFEubxj5NNmAZqjzSkOVwPGhRANCAAQ07IRAUmvDPqm4mJrCrvIexVfuSicB
wlCvbwlltbexCE2UOIY7GDxvi8Y3TaPpwIKoyZ5vmOfeVMpVPCSjv7zh
-----END PRIVATE KEY-----
)pem";
inline constexpr std::string_view kEd25519PrivatePem = R"pem(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIDcMwiPl8SfENmpEwAZliIPvaFYD9BnTdYssZeQ9C8gG
-----END PRIVATE KEY-----
)pem";
inline constexpr std::string_view kEd25519NoKidPrivatePem = R"pem(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIHVFwqMZsjvaxp1rwR/yC+yhH/uEFc1EqLbgPanLOcgQ
-----END PRIVATE KEY-----
)pem";

// Public keys (SubjectPublicKeyInfo PEM) for the independent signature check.
inline constexpr std::string_view kRs256PublicPem = R"pem(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2wzXYC/X9YDosCh5ppMl
ugjGWP0UeR05aLhTOa7GAMdsUuNNDA13bWSxUzuTMV3u//WVhMFmh4gclyZWcjqN
OoY2Qf0aknRFaIlg/hBP7uSmKegRdQg6cP1m62x8WDCQz4lFw41JdrNPUMALGlCa
2S1ns60KYT8jD9L2bIAlNg1xNGxG7qdyDAZTVyTQPSqlpdEzYHd4P95MS+eUd6gv
6OZiFzcVF2i5sz74gWsQXxDujSAfULDWpXZfGBpRrkGoluIVwNPFTLBKDyr02A1w
7xJWjZup9Duj9MkmUTQaGeU4tZAj1BuWlO41+Ii5m03M3XUXzO/7eHRe1npwUDbE
uwIDAQAB
-----END PUBLIC KEY-----
)pem";
inline constexpr std::string_view kEs256PublicPem = R"pem(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENOyEQFJrwz6puJiawq7yHsVX7kon
AcJQr28JZbW3sQhNlDiGOxg8b4vGN02j6cCCqMmeb5jn3lTKVTwko7+84Q==
-----END PUBLIC KEY-----
)pem";
inline constexpr std::string_view kEd25519PublicPem = R"pem(-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAs2CNP2gci3VCdbTjBd9ubwFSDFPF//c82kn5uPjY+3I=
-----END PUBLIC KEY-----
)pem";
inline constexpr std::string_view kEd25519NoKidPublicPem = R"pem(-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA/Hm5v7RZNZyjBmZlBqhjcsmQI23f/2jbmrRp+MKK2Pc=
-----END PUBLIC KEY-----
)pem";

}  // namespace jwtgate::fuzz

#endif  // JWTGATE_TESTS_FUZZ_FUZZ_KEYS_H_
