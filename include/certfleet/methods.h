/*
 * RPC method names, shared by daemon and client.  schema/rpc.md describes
 * each one's parameters and result; tests/integration/methods.sh checks that
 * the daemon, this file and that description agree.
 */
#ifndef CERTFLEET_METHODS_H
#define CERTFLEET_METHODS_H

#define M_DAEMON_STATUS		"Daemon.Status"
#define M_DAEMON_METHODS	"Daemon.Methods"
#define M_TRACK_ADD		"Track.Add"
#define M_TRACK_LIST		"Track.List"
#define M_TRACK_SHOW		"Track.Show"
#define M_TRACK_DELETE		"Track.Delete"
#define M_TRACK_ACTIVATE	"Track.Activate"
#define M_TRACK_DEACTIVATE	"Track.Deactivate"
#define M_TRACK_CHECK		"Track.Check"
#define M_TRACK_CHECK_ALL	"Track.CheckAll"
#define M_TRACK_IMPORT		"Track.Import"
#define M_TRACK_HISTORY		"Track.History"
#define M_TRACK_RAW		"Track.Raw"
#define M_EVENTS_LIST		"Events.List"
#define M_EVENTS_WATCH		"Events.Watch"
#define M_EVENTS_KINDS		"Events.Kinds"
#define M_CERT_DEPLOY_ADD	"Cert.DeployAdd"
#define M_CERT_DEPLOY_LIST	"Cert.DeployList"
#define M_CERT_DEPLOY_REMOVE	"Cert.DeployRemove"
#define M_CERT_DEPLOY_RUN	"Cert.DeployRun"
#define M_NOTIFY_ADD		"Notify.Add"
#define M_NOTIFY_LIST		"Notify.List"
#define M_NOTIFY_SHOW		"Notify.Show"
#define M_NOTIFY_DELETE		"Notify.Delete"
#define M_NOTIFY_TEST		"Notify.Test"
#define M_NOTIFY_RETRY		"Notify.Retry"
#define M_NOTIFY_ENABLE		"Notify.Enable"
#define M_CHECK_RUN		"Check.Run"
#define M_DEBUG_SET_CLOCK	"Debug.SetClock"
#define M_CA_ADD		"Ca.Add"
#define M_CA_LIST		"Ca.List"
#define M_CA_SHOW		"Ca.Show"
#define M_CA_DELETE		"Ca.Delete"
#define M_CERT_CREATE		"Cert.Create"
#define M_CERT_UPDATE		"Cert.Update"
#define M_CERT_CSR		"Cert.Csr"
#define M_CERT_SHOW		"Cert.Show"
#define M_CERT_LIST		"Cert.List"
#define M_CERT_KEY		"Cert.Key"
#define M_CERT_PEM		"Cert.Pem"
#define M_CERT_IMPORT		"Cert.Import"
#define M_CERT_DELETE		"Cert.Delete"
#define M_CERT_RENEW		"Cert.Renew"
#define M_CERT_REVOKE		"Cert.Revoke"

/* Default control socket, used by both sides when nothing else is given. */
#ifndef CF_DEFAULT_SOCKET
#define CF_DEFAULT_SOCKET	"/run/certfleet/certfleet.sock"
#endif

#endif
