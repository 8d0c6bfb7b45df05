#include "store/table_name.h"

namespace jwtgate::store {
namespace {

bool ValidIdentifier(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = c == '_' || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

StoreStatus CheckTableName(std::string_view backend, const std::string& table, std::string* error) {
  if (ValidIdentifier(table)) return StoreStatus::kOk;
  if (error != nullptr) *error = std::string(backend) + ": invalid table name '" + table + "'";
  return StoreStatus::kInvalidArgument;
}

}  // namespace jwtgate::store
