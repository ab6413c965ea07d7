package kaimport

import "strings"

// Keywords keepalived 2.2 knows, per block. A keyword outside these lists
// is unknown: an error when it is a near miss of a known one (a typo that
// keepalived would skip with a log line), otherwise listed as not carried.
var keywords = map[string][]string{
	"": words(`global_defs vrrp_instance vrrp_sync_group vrrp_script virtual_server
		virtual_server_group static_ipaddress static_routes static_rules SSL linkbeat_interfaces
		vrrp_track_process track_file garp_group bfd_instance net_namespace`),
	"global_defs": words(`router_id lvs_id notification_email notification_email_from smtp_server
		smtp_connect_timeout smtp_helo_name smtp_alert smtp_alert_vrrp smtp_alert_checker
		lvs_sync_daemon lvs_flush lvs_flush_onstop lvs_timeouts vrrp_mcast_group4 vrrp_mcast_group6
		vrrp_garp_master_delay vrrp_garp_master_repeat vrrp_garp_master_refresh
		vrrp_garp_master_refresh_repeat vrrp_garp_interval vrrp_gna_interval
		vrrp_garp_lower_prio_delay vrrp_garp_lower_prio_repeat vrrp_lower_prio_no_advert
		vrrp_higher_prio_send_advert vrrp_version vrrp_iptables vrrp_ipsets
		vrrp_check_unicast_src vrrp_skip_check_adv_addr vrrp_strict vrrp_priority
		checker_priority bfd_priority vrrp_no_swap checker_no_swap script_user
		enable_script_security enable_snmp_vrrp enable_snmp_checker enable_snmp_rfc
		enable_traps dynamic_interfaces max_auto_priority enable_dbus notify_fifo
		notify_fifo_script vrrp_notify_fifo vrrp_notify_fifo_script lvs_notify_fifo
		lvs_notify_fifo_script vrrp_startup_delay vrrp_min_garp include_check use_pid_dir
		instance net_namespace local_name default_interface`),
	"vrrp_instance": words(`state interface vrf use_vmac use_vmac_addr vmac_xmit_base use_ipvlan
		native_ipv6 dont_track_primary track_interface track_script track_file track_process
		track_bfd mcast_src_ip unicast_src_ip mcast_dst_ip track_src_ip version
		check_unicast_src unicast_peer unicast_fault_no_peer unicast_ttl old_unicast_checksum
		garp_master_delay garp_master_repeat garp_lower_prio_delay garp_lower_prio_repeat
		garp_master_refresh garp_master_refresh_repeat garp_extra_if down_timer_adverts
		lower_prio_no_advert higher_prio_send_advert virtual_router_id priority advert_int
		authentication virtual_ipaddress virtual_ipaddress_excluded virtual_routes
		virtual_rules promote_secondaries linkbeat_use_polling nopreempt preempt preempt_delay
		strict_mode skip_check_adv_addr debug notify_stop notify_backup notify_master
		notify_fault notify notify_master_rx_lower_pri smtp_alert kernel_rx_buf_size
		no_accept accept lvs_sync_daemon_interface`),
	"authentication": words(`auth_type auth_pass`),
	"vrrp_sync_group": words(`group notify_master notify_backup notify_fault notify notify_stop
		smtp_alert global_tracking sync_group_tracking_weight track_interface track_script
		track_file track_process track_bfd`),
	"vrrp_script": words(`script interval timeout weight rise fall user init_fail`),
	"virtual_server": words(`lb_algo lvs_sched lb_kind lvs_method persistence_engine
		persistence_timeout persistence_granularity protocol ha_suspend smtp_alert virtualhost
		snmp_name alpha omega quorum hysteresis quorum_up quorum_down ip_family sorry_server
		sorry_server_inhibit sorry_server_lvs_method connect_timeout retry delay_before_retry
		warmup delay_loop inhibit_on_failure real_server flag-1 flag-2 flag-3 sh-port
		sh-fallback mh-port mh-fallback ops`),
	"real_server": words(`weight lvs_method notify_up notify_down uthreshold lthreshold
		smtp_alert virtualhost snmp_name alpha connect_timeout retry delay_before_retry warmup
		delay_loop inhibit_on_failure HTTP_GET SSL_GET TCP_CHECK SMTP_CHECK DNS_CHECK
		MISC_CHECK BFD_CHECK UDP_CHECK PING_CHECK FILE_CHECK`),
	"checker": words(`connect_ip connect_port bindto bind_if bind_port fwmark alpha
		connect_timeout retry nb_get_retry delay_before_retry warmup delay_loop
		log_all_failures http_protocol fast_recovery url enable_sni virtualhost helo_name host
		type name misc_path misc_timeout misc_dynamic user payload require_reply
		min_reply_length max_reply_length track_file dynamic weight`),
	"url":  words(`path digest status_code virtualhost regex regex_no_match regex_options regex_stack regex_min_offset regex_max_offset`),
	"SSL":  words(`password ca certificate key`),
	"host": words(`connect_ip connect_port bindto bind_port bind_if fwmark connect_timeout`),
}

// dataBlocks hold values, not keywords: their lines are not checked.
var dataBlocks = map[string]bool{
	"virtual_ipaddress": true, "virtual_ipaddress_excluded": true, "unicast_peer": true,
	"track_interface": true, "track_script": true, "track_file": true, "track_process": true,
	"track_bfd": true, "virtual_server_group": true, "notification_email": true,
	"static_ipaddress": true, "static_routes": true, "static_rules": true, "virtual_routes": true,
	"virtual_rules": true, "group": true, "linkbeat_interfaces": true, "garp_group": true,
	"bfd_instance": true, "vrrp_track_process": true,
}

var checkerKeys = map[string]bool{
	"HTTP_GET": true, "SSL_GET": true, "TCP_CHECK": true, "SMTP_CHECK": true, "DNS_CHECK": true,
	"MISC_CHECK": true, "BFD_CHECK": true, "UDP_CHECK": true, "PING_CHECK": true, "FILE_CHECK": true,
}

func words(s string) []string { return strings.Fields(s) }

// contextOf names the keyword list that applies inside a block.
func contextOf(n *Node) (string, bool) {
	switch {
	case n == nil:
		return "", true
	case dataBlocks[n.Key]:
		return "", false
	case checkerKeys[n.Key]:
		return "checker", true
	}
	if _, ok := keywords[n.Key]; ok {
		return n.Key, true
	}
	return "", false
}
