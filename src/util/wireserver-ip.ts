// The WireServer's well-known address (docs/protocol.md §1.1). At the bottom so that both os (the DHCP routes)
// and fabric (discovery, endpoints, URL redirection) use the one constant.
export const WIRESERVER_IP = '168.63.129.16';
