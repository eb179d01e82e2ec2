# The Debian package (issue 6). Included from the top CMakeLists.txt.
#
#   cmake --preset release && cmake --build --preset release
#   cd build/release && cpack -G DEB --config CPackConfig.cmake
#
# gives build/release/keelan_<version>-<revision>_<arch>.deb. See
# packaging/README.md for what is in it and why.

set(KEELAN_PACKAGING_DIR ${CMAKE_CURRENT_LIST_DIR})
set(KEELAN_GENERATED_PACKAGING_DIR ${CMAKE_CURRENT_BINARY_DIR}/packaging)
set(KEELAN_DEBIAN_REVISION 1 CACHE STRING "Debian revision of the keelan package (the -N of VERSION-N)")
set(KEELAN_DEBIAN_MAINTAINER "keelan maintainers <maintainers@users.noreply.r-seed-03f765f2.example>"
    CACHE STRING "Maintainer field of the keelan package")

# The Debian changelog's newest entry must name the version being packaged.
file(STRINGS ${KEELAN_PACKAGING_DIR}/debian/changelog _keelan_changelog_head LIMIT_COUNT 1)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${KEELAN_PACKAGING_DIR}/debian/changelog)
if(NOT _keelan_changelog_head MATCHES "^keelan \\(${PROJECT_VERSION}-${KEELAN_DEBIAN_REVISION}\\) ")
  message(WARNING "packaging/debian/changelog starts with '${_keelan_changelog_head}', not with "
                  "'keelan (${PROJECT_VERSION}-${KEELAN_DEBIAN_REVISION})': add an entry for this version")
endif()

# --------------------------------------------------------- generated files
# gzip -n: no file name or time stamp in the header (reproducible; lintian).
find_program(KEELAN_GZIP gzip REQUIRED)
set(_keelan_gzip sh -c "\"$0\" -9n <\"$1\" >\"$2\"" ${KEELAN_GZIP})
configure_file(${KEELAN_PACKAGING_DIR}/keelan.1 ${KEELAN_GENERATED_PACKAGING_DIR}/keelan.1 @ONLY)
add_custom_command(
  OUTPUT ${KEELAN_GENERATED_PACKAGING_DIR}/keelan.1.gz
  COMMAND ${_keelan_gzip} ${KEELAN_GENERATED_PACKAGING_DIR}/keelan.1 ${KEELAN_GENERATED_PACKAGING_DIR}/keelan.1.gz
  DEPENDS ${KEELAN_GENERATED_PACKAGING_DIR}/keelan.1
  COMMENT "Compressing the keelan(1) man page"
  VERBATIM)
add_custom_command(
  OUTPUT ${KEELAN_GENERATED_PACKAGING_DIR}/changelog.Debian.gz
  COMMAND ${_keelan_gzip} ${KEELAN_PACKAGING_DIR}/debian/changelog ${KEELAN_GENERATED_PACKAGING_DIR}/changelog.Debian.gz
  DEPENDS ${KEELAN_PACKAGING_DIR}/debian/changelog
  COMMENT "Compressing the Debian changelog"
  VERBATIM)
# Shell completions, printed by the binary just built (`keelan completion SHELL`).
set(_keelan_completions ${KEELAN_GENERATED_PACKAGING_DIR}/keelan.bash ${KEELAN_GENERATED_PACKAGING_DIR}/_keelan
    ${KEELAN_GENERATED_PACKAGING_DIR}/keelan.fish)
add_custom_command(
  OUTPUT ${_keelan_completions}
  COMMAND sh -c "\"$0\" completion bash >\"$1\" && \"$0\" completion zsh >\"$2\" && \"$0\" completion fish >\"$3\""
          $<TARGET_FILE:keelan> ${_keelan_completions}
  DEPENDS keelan
  COMMENT "Generating the bash, zsh and fish completions"
  VERBATIM)
add_custom_target(keelan_package_files ALL
  DEPENDS ${KEELAN_GENERATED_PACKAGING_DIR}/keelan.1.gz ${KEELAN_GENERATED_PACKAGING_DIR}/changelog.Debian.gz
          ${_keelan_completions})

# ------------------------------------------------------------ install rules
# Directories are 0755 whatever the umask of the one who builds (lintian).
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(_keelan_doc share/doc/keelan)

# Under the install prefix: part of a plain `cmake --install` too.
install(FILES ${KEELAN_GENERATED_PACKAGING_DIR}/keelan.1.gz DESTINATION share/man/man1)
# Where bash-completion, Debian's zsh and fish look for them.
install(FILES ${KEELAN_GENERATED_PACKAGING_DIR}/keelan.bash DESTINATION share/bash-completion/completions RENAME keelan)
install(FILES ${KEELAN_GENERATED_PACKAGING_DIR}/_keelan DESTINATION share/zsh/vendor-completions)
install(FILES ${KEELAN_GENERATED_PACKAGING_DIR}/keelan.fish DESTINATION share/fish/vendor_completions.d)
# README.md: the project's README (the packaging README if there is none).
if(EXISTS ${PROJECT_SOURCE_DIR}/README.md)
  install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${_keelan_doc})
else()
  install(FILES ${KEELAN_PACKAGING_DIR}/README.md DESTINATION ${_keelan_doc})
endif()
install(FILES examples/hello.json examples/web.json examples/crash.json examples/README.md
        DESTINATION ${_keelan_doc}/examples)
install(PROGRAMS examples/make-root.sh examples/demo.sh DESTINATION ${_keelan_doc}/examples)

# System files at absolute paths: only in the package (component debian,
# left out of a plain `cmake --install`, which must not write to /etc).
install(FILES ${KEELAN_PACKAGING_DIR}/keelan.service DESTINATION /lib/systemd/system
        COMPONENT debian EXCLUDE_FROM_ALL)
install(FILES ${KEELAN_PACKAGING_DIR}/keelan.default DESTINATION /etc/default RENAME keelan
        COMPONENT debian EXCLUDE_FROM_ALL)
install(FILES ${KEELAN_PACKAGING_DIR}/keelan.logrotate DESTINATION /etc/logrotate.d RENAME keelan
        COMPONENT debian EXCLUDE_FROM_ALL)
install(FILES ${KEELAN_PACKAGING_DIR}/keelan.toml DESTINATION /etc/keelan
        COMPONENT debian EXCLUDE_FROM_ALL)
install(FILES ${KEELAN_GENERATED_PACKAGING_DIR}/changelog.Debian.gz ${KEELAN_PACKAGING_DIR}/debian/copyright
        DESTINATION ${_keelan_doc} COMPONENT debian EXCLUDE_FROM_ALL)
install(FILES ${KEELAN_PACKAGING_DIR}/debian/lintian-overrides DESTINATION share/lintian/overrides RENAME keelan
        COMPONENT debian EXCLUDE_FROM_ALL)
# README.Debian: packaging/README.md (the service, its files, the scripts).
install(FILES ${KEELAN_PACKAGING_DIR}/README.md DESTINATION ${_keelan_doc} RENAME README.Debian
        COMPONENT debian EXCLUDE_FROM_ALL)

# -------------------------------------------------------------------- CPack
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME keelan)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${KEELAN_DEBIAN_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS ${CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS})

# One package holding the default component (the binary, man page, docs and
# examples) and the debian component.
set(CPACK_COMPONENTS_ALL Unspecified debian)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)

set(CPACK_DEBIAN_PACKAGE_NAME keelan)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${KEELAN_DEBIAN_REVISION})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${KEELAN_DEBIAN_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
# Depends: computed by dpkg-shlibdeps from the binary's libraries, plus
# libcurl4: keelan loads libcurl.so.4 with dlopen when it sends its first
# webhook (src/webhook.cc), so dpkg-shlibdeps cannot see it. 7.85 for
# CURLOPT_PROTOCOLS_STR. CPack appends the computed list to this one.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcurl4 (>= 7.85.0)")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "logrotate, busybox-static")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "supervisor that knows exactly how every ship ended")
# The synopsis above, then this extended description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "keelan runs long-lived programs (ships), optionally in a chroot and as
another user, and records how each run ended: its exit code, or the signal
that killed it and whether it dumped core. Ships outlive the daemon; a
restarted daemon adopts the ones still running.
.
This package ships the keelan command, a systemd unit for the daemon,
logrotate rules and example ships.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${KEELAN_PACKAGING_DIR}/debian/conffiles
    ${KEELAN_PACKAGING_DIR}/debian/postinst
    ${KEELAN_PACKAGING_DIR}/debian/prerm
    ${KEELAN_PACKAGING_DIR}/debian/postrm)
# Maintainer scripts 0755, conffiles 0644, whatever their modes in the tree.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build/")

include(CPack)
