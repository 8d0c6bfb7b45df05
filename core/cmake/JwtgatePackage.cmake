# The Debian package (CPack, DEB): `scripts/package` configures a build with the prefix /usr and
# runs cpack. One package, jwtgate: jwtgated and jwtgate (/usr/bin), the systemd unit, the
# library with its headers, CMake package and pkg-config file, the documentation and examples
# (/usr/share/doc/jwtgate), the configuration (/etc/jwtgate/jwtgated.yaml, a conffile), and
# maintainer scripts (scripts/deploy/debian/) that create the `jwtgate` system user, its
# /var/lib/jwtgate and /var/cache/jwtgate, and remove them again.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME jwtgate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "The jwtgate authors")
set(CPACK_PACKAGE_CONTACT "The jwtgate authors <jwtgate@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Strict, fast JWT verification for reverse proxies")
set(CPACK_PACKAGE_DESCRIPTION
    "jwtgated answers nginx auth_request, Envoy ext_authz, Traefik ForwardAuth and Caddy \
forward_auth subrequests: strict JWS verification (HS, RS, PS, ES, EdDSA), keys from files or \
fetched from the identity provider, and durable in-memory revocation. Also the jwtgate \
command line tool and the static library libjwtgate.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # jwtgate_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://jwtgate.invalid/")
# The shared libraries the binaries link, found by dpkg-shlibdeps; adduser for the postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/scripts/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/scripts/deploy/debian/prerm
    ${PROJECT_SOURCE_DIR}/scripts/deploy/debian/postrm
    ${PROJECT_SOURCE_DIR}/scripts/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
