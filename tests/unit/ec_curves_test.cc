// The elliptic-curve table agrees with OpenSSL (group name, NID, field size) and with RFC 7518
// (curve per algorithm, JWK names, signature sizes).
#include "crypto/ec_curves.h"

#include <openssl/ec.h>
#include <openssl/objects.h>

#include <catch2/catch.hpp>

#include <memory>
#include <string_view>

namespace jwtgate::crypto {
namespace {

TEST_CASE("Each curve's facts agree with OpenSSL", "[ec_curves]") {
  for (const EcCurve& c : kEcCurves) {
    INFO(c.jwk_name);
    CHECK(OBJ_txt2nid(c.group_name) == c.nid);
    std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)> group(EC_GROUP_new_by_curve_name(c.nid),
                                                              EC_GROUP_free);
    REQUIRE(group);
    const auto degree = static_cast<size_t>(EC_GROUP_get_degree(group.get()));
    CHECK((degree + 7) / 8 == c.coord_size);
    CHECK(c.coord_size <= kMaxEcCoordSize);
  }
}

TEST_CASE("Curves are looked up by algorithm, JWK name and group name", "[ec_curves]") {
  struct Row {
    Alg alg;
    std::string_view crv, group;
    size_t signature_size;
  };
  // RFC 7518 §3.4 (signature sizes) and §6.2.1.1 (curve names).
  for (const Row& r :
       {Row{Alg::kES256, "P-256", "prime256v1", 64}, Row{Alg::kES384, "P-384", "secp384r1", 96},
        Row{Alg::kES512, "P-521", "secp521r1", 132}}) {
    INFO(r.crv);
    const EcCurve* c = EcCurveForAlg(r.alg);
    REQUIRE(c != nullptr);
    CHECK(c->jwk_name == r.crv);
    CHECK(EcCurveForJwkName(r.crv) == c);
    CHECK(EcCurveForGroup(r.group) == c);
    CHECK(EcdsaSignatureSize(r.alg) == r.signature_size);
  }
  CHECK(EcCurveForAlg(Alg::kRS256) == nullptr);
  CHECK(EcCurveForAlg(Alg::kEdDSA) == nullptr);
  CHECK(EcdsaSignatureSize(Alg::kHS256) == 0);
  CHECK(EcCurveForJwkName("p-256") == nullptr);  // names are case-sensitive
  CHECK(EcCurveForJwkName("secp256k1") == nullptr);
  CHECK(EcCurveForGroup("P-256") == nullptr);  // a JWK name is not a group name here
  CHECK(kMaxEcCoordSize == 66);
}

}  // namespace
}  // namespace jwtgate::crypto
